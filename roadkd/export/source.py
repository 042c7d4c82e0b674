"""What an export reads: a trained network with its facts, from a checkpoint or safetensors."""

from pathlib import Path

from ..errors import RoadkdError
from ..models.deploy import DeployBundle, load_bundle


def load_export_source(model: str | Path) -> DeployBundle:
    """Load the network to export, refusing an ONNX file by name.

    An ONNX graph holds no PyTorch network to export again (nor to quantise: ``--int8``
    quantises the float network of the checkpoint it exports).

    Args:
        model: roadkd checkpoint, deploy bundle or safetensors export.

    Returns:
        The bundle.

    Raises:
        RoadkdError: for an ONNX file, or a missing, unsafe or malformed model.
    """
    if Path(model).suffix.lower() == ".onnx":
        raise RoadkdError(
            f"{model} is already an ONNX export: export from the checkpoint (.ckpt) or the "
            ".safetensors it came from"
        )
    return load_bundle(model)
