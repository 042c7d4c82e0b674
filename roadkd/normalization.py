"""Image normalisation shared by training, inference and export.

Pixels are divided by 255 and then standardised with a per-band mean and std. The numbers
travel with every checkpoint and ONNX file so that inference uses exactly what training used.
"""

import torch
from torch import Tensor

#: Default per-band mean of RGB pixels scaled to [0, 1] (ImageNet statistics).
DEFAULT_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
#: Default per-band standard deviation of RGB pixels scaled to [0, 1].
DEFAULT_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

#: Ground sampling distance of RoadNet (Ottawa) imagery in metres per pixel.
ROADNET_RESOLUTION_M = 0.21


def normalize(image: Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> Tensor:
    """Scale raw 0-255 pixels to [0, 1] and standardise each band.

    Args:
        image: tensor of shape (..., C, H, W) holding raw 0-255 values.
        mean: per-band mean after scaling to [0, 1].
        std: per-band standard deviation after scaling to [0, 1].

    Returns:
        A float32 tensor of the same shape.
    """
    m = torch.as_tensor(mean, dtype=torch.float32, device=image.device).view(-1, 1, 1)
    s = torch.as_tensor(std, dtype=torch.float32, device=image.device).view(-1, 1, 1)
    return (image.float() / 255.0 - m) / s
