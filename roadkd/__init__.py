"""roadkd: road detection in aerial imagery with semi-supervised knowledge distillation."""

__version__ = "0.1.0"
