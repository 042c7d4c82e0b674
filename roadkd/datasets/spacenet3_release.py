"""The chips of a SpaceNet 3 release and their road labels, as the release has them.

Chips are found by folder (``PS-RGB`` or ``RGB-PanSharpen``) and paired with their labels
by AOI and image number, whatever the folders above them are called; labels are read as
GeoJSON lines with their SpaceNet attributes turned into OpenStreetMap-style tags
(:func:`osm_tags`). See :mod:`roadkd.datasets.spacenet3` for the release's layout and codes.
"""

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely
from pyproj import CRS
from shapely.geometry import shape

from ..errors import RoadkdError
from ..metrics.levels import SPACENET_BRIDGE, SPACENET_BRIDGE_FIELDS, spacenet_code
from ..raster import open_raster

#: SpaceNet ``road_type`` codes as OpenStreetMap ``highway`` classes (their labelling guide
#: defines them by OSM's taxonomy); an unknown code is a ``road``.
ROAD_TYPE_HIGHWAY: dict[str, str] = {
    "1": "motorway",
    "2": "primary",
    "3": "secondary",
    "4": "tertiary",
    "5": "residential",
    "6": "unclassified",
    "7": "track",
}
#: ``paved`` codes as OSM ``surface`` values.
PAVED_SURFACE: dict[str, str] = {"1": "paved", "2": "unpaved"}
#: Folders of the pan-sharpened RGB chips (current and 2017 names).
IMAGE_FOLDERS = ("PS-RGB", "RGB-PanSharpen")
#: Folders of the road labels, in order of preference.
LABEL_FOLDERS = ("geojson_roads", "geojson_roads_speed", "spacenetroads")
#: A chip's name in any file name of the release: its AOI, city and image number.
CHIP_ID = re.compile(r"AOI_(\d+)_([A-Za-z]+)_(?:.*_)?img(\d+)(?:\.\w+)?$")


@dataclass(frozen=True)
class Chip:
    """One chip of the release.

    Attributes:
        image: the pan-sharpened RGB GeoTIFF.
        labels: its road GeoJSON (None: the release has none for it).
        aoi: AOI number (2 Vegas, 3 Paris, 4 Shanghai, 5 Khartoum).
        city: AOI name as the file names spell it.
        number: image number within the AOI.
        official: ``train`` or ``test_public``.
    """

    image: Path
    labels: Path | None
    aoi: int
    city: str
    number: int
    official: str

    @property
    def chip_id(self) -> str:
        """``AOI_<n>_<city>_img<number>``, the same in every file naming of the release."""
        return f"AOI_{self.aoi}_{self.city}_img{self.number}"

    @property
    def name(self) -> str:
        """Its scene name in roadkd's layout (the image's file name without extension)."""
        return self.image.stem


def parse_chip_id(text: str) -> tuple[int, str, int] | None:
    """AOI number, city and image number named in a file name or list entry, or None."""
    found = CHIP_ID.search(text.strip())
    if found is None:
        return None
    return int(found.group(1)), found.group(2), int(found.group(3))


def _official(relative: Path) -> str:
    """``test_public`` if the chip's path says test (file or folder names), else ``train``."""
    return "test_public" if "test" in str(relative).lower() else "train"


def find_chips(release: str | Path, aois: Sequence[int] = ()) -> list[Chip]:
    """Every RGB chip of a SpaceNet 3 release, paired with its labels.

    Args:
        release: the folder the release's archives were extracted into.
        aois: keep these AOIs only (default: all).

    Returns:
        The chips, ordered by AOI, official split and image number.

    Raises:
        RoadkdError: if the folder holds no chip (of those AOIs).
    """
    root = Path(release)
    if not root.is_dir():
        raise RoadkdError(f"SpaceNet 3 release {root} is not a folder")
    labels: dict[tuple[int, int, str], tuple[int, Path]] = {}
    for path in sorted(root.rglob("*.geojson")):
        if path.parent.name not in LABEL_FOLDERS:
            continue
        parsed = parse_chip_id(path.name)
        if parsed is None:
            continue
        key = (parsed[0], parsed[2], _official(path.relative_to(root)))
        rank = LABEL_FOLDERS.index(path.parent.name)
        if key not in labels or rank < labels[key][0]:
            labels[key] = (rank, path)
    chips = []
    for path in sorted(root.rglob("*.tif")):
        parsed = parse_chip_id(path.name)
        if path.parent.name not in IMAGE_FOLDERS or parsed is None:
            continue
        aoi, city, number = parsed
        if aois and aoi not in aois:
            continue
        official = _official(path.relative_to(root))
        found = labels.get((aoi, number, official))
        chips.append(Chip(path, found[1] if found else None, aoi, city, number, official))
    if not chips:
        wanted = f" of AOI {', '.join(map(str, aois))}" if aois else ""
        raise RoadkdError(
            f"{root} holds no SpaceNet 3 chip{wanted}: expected GeoTIFFs in "
            f"{' or '.join(IMAGE_FOLDERS)} folders named like "
            "SN3_roads_train_AOI_2_Vegas_PS-RGB_img1.tif"
        )
    missing = sorted(set(aois) - {c.aoi for c in chips})
    if missing:
        raise RoadkdError(f"{root} holds no chip of AOI {', '.join(map(str, missing))}")
    return sorted(chips, key=lambda c: (c.aoi, c.official, c.number))


# -- labels --------------------------------------------------------------------------------


def _column(frame: pd.DataFrame, *names: str) -> list[str | None]:
    """The first of ``names`` that is a column (a renamed field in early files), as codes."""
    for name in names:
        if name in frame.columns:
            return [spacenet_code(v) for v in frame[name]]
    return [None] * len(frame)


def osm_tags(frame: pd.DataFrame) -> pd.DataFrame:
    """OpenStreetMap-style tags of SpaceNet road attributes.

    ``highway`` from ``road_type`` (``road`` when unknown: every SpaceNet line is a road),
    ``lanes`` from ``lane_number`` (or ``lane_numbe``; left empty when not positive),
    ``bridge`` ``yes`` and ``layer`` ``1`` for ``bridge_type`` (or ``bridge_typ``) 1, as
    OpenStreetMap tags a bridge (the crossing rule of :mod:`roadkd.metrics.levels` reads
    ``bridge_type`` the same way), and ``surface`` from ``paved``.

    Args:
        frame: the release's attributes, one row per line.

    Returns:
        Columns ``highway``, ``lanes``, ``bridge``, ``layer``, ``surface`` (text or None).
    """
    bridge = [c == SPACENET_BRIDGE for c in _column(frame, *SPACENET_BRIDGE_FIELDS)]
    columns: dict[str, list[str | None]] = {
        "highway": [ROAD_TYPE_HIGHWAY.get(c or "", "road") for c in _column(frame, "road_type")],
        "lanes": [
            c if c is not None and int(c) > 0 else None
            for c in _column(frame, "lane_number", "lane_numbe")
        ],
        "bridge": ["yes" if b else None for b in bridge],
        "layer": ["1" if b else None for b in bridge],
        "surface": [PAVED_SURFACE.get(c or "") for c in _column(frame, "paved")],
    }
    return pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in columns.items()}).set_index(
        frame.index
    )


def read_chip_roads(path: Path) -> gpd.GeoDataFrame:
    """A chip's road lines as the release has them, in EPSG:4326 (2D), with their attributes.

    Raises:
        RoadkdError: if the file is neither empty nor GeoJSON.
    """
    text = path.read_text(encoding="utf-8", errors="replace")
    if not text.strip():
        return gpd.GeoDataFrame(geometry=[], crs="EPSG:4326")
    try:
        document = json.loads(text)
        features = document.get("features") or []
        crs_name = ((document.get("crs") or {}).get("properties") or {}).get("name")
        geometries = [shape(f["geometry"]) if f.get("geometry") else None for f in features]
        properties = [f.get("properties") or {} for f in features]
    except (json.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError) as err:
        raise RoadkdError(f"cannot read SpaceNet labels {path}: not GeoJSON ({err})") from err
    frame = gpd.GeoDataFrame(
        pd.DataFrame(properties), geometry=geometries, crs=CRS.from_user_input(crs_name or 4326)
    )
    frame = frame[frame.geometry.notna() & ~frame.geometry.is_empty]
    frame = frame[frame.geom_type.isin(["LineString", "MultiLineString"])]
    frame = frame.explode(index_parts=False, ignore_index=True)
    frame.geometry = shapely.force_2d(frame.geometry.to_numpy())
    return frame.to_crs("EPSG:4326")


def chip_outline(path: Path) -> shapely.Polygon:
    """A chip's extent in EPSG:4326.

    Raises:
        RoadkdError: if the chip is not a georeferenced raster.
    """
    with open_raster(path, "chip") as src:
        bounds, crs = src.bounds, src.crs
    outline = shapely.segmentize(shapely.box(*bounds), (bounds[2] - bounds[0]) / 64)
    result: shapely.Polygon = gpd.GeoSeries([outline], crs=crs).to_crs("EPSG:4326").iloc[0]
    return result
