"""The one choice of a UTM zone: where a scene in degrees, or a layer comparison, is measured."""

from pyproj import CRS as ProjCRS
from pyproj import Transformer
from pyproj.aoi import AreaOfInterest
from pyproj.database import query_utm_crs_info
from rasterio.crs import CRS

from ..errors import RoadkdError


def utm_crs(src_crs: CRS | ProjCRS, x: float, y: float, what: str = "the scene") -> CRS:
    """The WGS 84 UTM zone CRS of a point given in ``src_crs``.

    Args:
        src_crs: the point's CRS.
        x: its first coordinate (easting or longitude).
        y: its second coordinate.
        what: what is to be measured there, for the message.

    Raises:
        RoadkdError: if no UTM zone covers the point (e.g. near the poles).
    """
    to_lonlat = Transformer.from_crs(
        ProjCRS.from_wkt(src_crs.to_wkt()), "EPSG:4326", always_xy=True
    )
    lon, lat = to_lonlat.transform(x, y)
    zones = query_utm_crs_info(
        datum_name="WGS 84", area_of_interest=AreaOfInterest(lon, lat, lon, lat)
    )
    if not zones:
        raise RoadkdError(
            f"no UTM zone covers lon {lon:.4f}, lat {lat:.4f}: reproject {what} first"
        )
    return CRS.from_epsg(int(zones[0].code))
