"""The one place where a user's raster is brought to a model: grid, CRS, bit depth and bands.

A model knows its ground resolution (metres per pixel) and expects 0-255 pixels in a fixed
band order. :class:`SceneReader` presents any GDAL raster that way, window by window, so
memory stays bounded whatever the scene size:

- **Resolution.** The scene is resampled on read to the model's metres per pixel with a
  rasterio ``WarpedVRT`` (``average`` when pixels get larger, ``bilinear`` when they get
  smaller). Resolution is measured on the ground (:mod:`roadkd.ground`), so feet-based
  CRSs, Web Mercator and rotated grids are measured right. A scene within 1 % of the
  model's resolution is read as it is. More than 2x coarser than the model: one warning
  (detail that is not in the imagery cannot come back). More than 8x either way: refused
  unless ``ReadOptions(any_resolution=True)``. ``native_resolution=True`` switches
  resampling off.
- **CRS.** A geographic CRS (degrees) is reprojected to the UTM zone of the scene's centre
  (WGS 84); a projected CRS is kept. The output grid is north-up and covers the scene's
  extent.
- **Bit depth.** uint8 pixels are used as they are. uint16, int16, float and other types get a
  per-band linear stretch computed once per scene from a decimated read (GDAL uses overviews
  when the file has them): the scene's 2 and 98 percentiles become those the model recorded
  of its training imagery (:class:`BandPercentiles`, in the network's 0-255 input units), so
  a 16-bit copy of a scene reaches the network as the 8-bit original did; a model that
  records none gets 0 and 255 instead, and the printed line says which.
  ``ReadOptions(scale=(low, high))`` maps ``low`` -> 0 and ``high`` -> 255 for every band
  instead (uint8 included).
- **Bands.** ``ReadOptions(bands=(3, 2, 1))`` picks bands (1-based). By default red, green,
  blue are found by the raster's colour interpretation, else the first bands are used.

What was chosen is described in one line (:meth:`ScenePlan.describe`), handed to the
``log`` callback together with any warning.

Example (write a model-ready uint8 copy of a scene, block by block)::

    with SceneReader("scene.tif", in_channels=3, resolution_m=0.21) as reader:
        profile = {..., "crs": reader.crs, "transform": reader.transform,
                   "width": reader.width, "height": reader.height}
        for window in block_windows(reader.height, reader.width, 512):
            pixels, valid = reader.read(window)   # float32 (3, h, w) 0-255, bool (h, w)
            dst.write(pixels.round().astype("uint8"), window=window)
"""

from .bands import choose_bands, parse_bands
from .plan import (
    REFUSE_FACTOR,
    SAME_RESOLUTION_TOLERANCE,
    WARN_COARSER,
    Log,
    OnPlannedGrid,
    ReadOptions,
    ScenePlan,
    plan_scene,
)
from .reader import SceneReader, block_windows, read_on_grid
from .scaling import (
    STRETCH_PERCENTILES,
    BandPercentiles,
    band_percentiles,
    pooled_band_percentiles,
    stretch_onto,
)
from .utm import utm_crs

__all__ = [
    "REFUSE_FACTOR",
    "SAME_RESOLUTION_TOLERANCE",
    "STRETCH_PERCENTILES",
    "WARN_COARSER",
    "BandPercentiles",
    "Log",
    "OnPlannedGrid",
    "ReadOptions",
    "ScenePlan",
    "SceneReader",
    "band_percentiles",
    "block_windows",
    "choose_bands",
    "parse_bands",
    "plan_scene",
    "pooled_band_percentiles",
    "read_on_grid",
    "stretch_onto",
    "utm_crs",
]
