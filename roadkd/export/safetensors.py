"""Export a trained student as safetensors: weights that cannot carry code, facts as JSON.

The file is one ``.safetensors``: the network's weights, and in its header metadata under
``"roadkd_deploy"`` the JSON of :meth:`~roadkd.models.DeployBundle.facts` (architecture,
bands, resolution, normalisation, tile size, class names; the road threshold in
``extra``). One file rather than weights plus a JSON sidecar, so a model cannot lose its
facts on the way to a colleague or into QGIS, and it is written atomically in one step.
"""

from dataclasses import replace
from pathlib import Path

from ..errors import RoadkdError
from ..models.deploy import SAFETENSORS_SUFFIX, save_bundle
from .source import load_export_source


def export_safetensors(
    model: str | Path,
    out: str | Path,
    tile_size: int | None = None,
    threshold: float = 0.5,
) -> Path:
    """Export the deployable network of a checkpoint to safetensors.

    Args:
        model: roadkd checkpoint, deploy bundle or safetensors export.
        out: ``.safetensors`` file to write.
        tile_size: tile size to record (default: the training tile).
        threshold: road probability threshold to record.

    Returns:
        The safetensors path.

    Raises:
        RoadkdError: for a bad checkpoint or output path.
    """
    if Path(out).suffix.lower() != SAFETENSORS_SUFFIX:
        raise RoadkdError(f"cannot write {out}: the export must end in {SAFETENSORS_SUFFIX}")
    bundle = load_export_source(model)
    exported = replace(
        bundle,
        tile_size=tile_size or bundle.tile_size,
        extra={**bundle.extra, "threshold": threshold},
    )
    save_bundle(exported, out)
    return Path(out)
