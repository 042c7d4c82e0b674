"""RGB aerial imagery of roadkd's dataset layout as a TorchGeo RasterDataset."""

from .base import LayoutRaster


class RoadImagery(LayoutRaster):
    """RGB uint8 imagery at very high resolution (``DIR/images/<scene>.tif``).

    Samples hold ``image`` (3, H, W) float32 raw 0-255 values, ``bounds`` and ``transform``.
    """

    is_image = True
    all_bands = ("red", "green", "blue")
    rgb_bands = ("red", "green", "blue")
    what = "imagery"
