"""Road label rasters (surface, edge or centreline) as a TorchGeo RasterDataset."""

from .base import LayoutRaster


class RoadMask(LayoutRaster):
    """Binary road labels, uint8 0/1 (``DIR/masks/<kind>/<scene>.tif``).

    Samples hold ``mask`` (H, W) int64, ``bounds`` and ``transform``. Intersect with
    :class:`~roadkd.datasets.RoadImagery` (``imagery & masks``) for labelled samples.
    """

    is_image = False
    what = "road labels"
