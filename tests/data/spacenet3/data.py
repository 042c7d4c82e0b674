#!/usr/bin/env python3
"""Build a tiny fixture in the layout and data types of the SpaceNet 3 roads release.

As the release (``s3://spacenet-dataset/spacenet/SN3_roads/``, read by TorchGeo's
``SpaceNet3`` and CosmiQ's CRESI)::

    SN3_roads/train/AOI_2_Vegas/PS-RGB/SN3_roads_train_AOI_2_Vegas_PS-RGB_img1.tif
    SN3_roads/train/AOI_2_Vegas/geojson_roads/SN3_roads_train_AOI_2_Vegas_geojson_roads_img1.geojson
    SN3_roads/train/AOI_2_Vegas/geojson_roads_speed/..._geojson_roads_speed_img1.geojson
    SN3_roads/test_public/AOI_2_Vegas_Roads_Test_Public/RGB-PanSharpen/RGB-PanSharpen_AOI_2_Vegas_img9.tif

Chips are 3-band uint16 GeoTIFFs in EPSG:4326 with square 2.7e-6 degree pixels (the
release's; 1300 px there, :data:`SIZE` here), adjacent to each other like tiles of one
strip. Labels are GeoJSON in CRS84 with 3D coordinates, cut at the chip's edge, and the
release's attributes as strings of integer codes (``road_type`` "5", ``lane_number`` "2",
``bridge_type`` "2", ``paved`` "1", ...), the early truncated names ``lane_numbe`` and
``bridge_typ`` in one file, and an empty (zero-byte) file for a chip without roads.

Vegas (AOI 2): train chips 1-4 in a 2 x 2 block (chip 3 carries a 4-lane motorway bridge
over a residential street, chip 4 has no roads), public test chip 9 (old file names, no
labels). Khartoum (AOI 5): train chips 1 and 2; chip 2 has no label file. Tests call
:func:`make_release` into ``tmp_path``; run this file to write one here.
"""

import json
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import shapely
from affine import Affine

#: Chip side in pixels.
SIZE = 96
#: Pixel size in degrees, as the release's.
DEG = 2.7e-6
#: Upper-left corner (lon, lat) of each AOI's first chip.
ORIGINS = {"Vegas": (-115.30, 36.17), "Khartoum": (32.55, 15.60)}

#: The release's attributes of an ordinary residential street (codes as strings).
RESIDENTIAL = {
    "bridge_type": "2",
    "heading": "0",
    "lane_number": "2",
    "one_way_ty": "2",
    "paved": "1",
    "road_type": "5",
    "origarea": 0,
    "partialDec": 1,
    "truncated": 0,
}


def chip_box(city: str, col: int, row: int) -> tuple[float, float, float, float]:
    """(west, south, east, north) of the chip ``col`` right and ``row`` down of the origin."""
    lon, lat = ORIGINS[city]
    west, north = lon + col * SIZE * DEG, lat - row * SIZE * DEG
    return west, north - SIZE * DEG, west + SIZE * DEG, north


def write_chip(path: Path, bounds: tuple[float, float, float, float], seed: int) -> None:
    """A 16-bit pan-sharpened RGB chip (values of WorldView's 11-bit range)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    pixels = rng.integers(150, 1400, (3, SIZE, SIZE)).astype("uint16")
    profile = {
        "driver": "GTiff",
        "width": SIZE,
        "height": SIZE,
        "count": 3,
        "dtype": "uint16",
        "crs": "EPSG:4326",
        "transform": Affine(DEG, 0, bounds[0], 0, -DEG, bounds[3]),
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(pixels)


def _feature(line: shapely.LineString, road_id: int, **changes: Any) -> dict[str, Any]:
    properties = {**RESIDENTIAL, **changes, "road_id": road_id}
    properties["origlen"] = line.length
    coordinates = [[x, y, 0.0] for x, y in line.coords]
    return {
        "type": "Feature",
        "properties": properties,
        "geometry": {"type": "LineString", "coordinates": coordinates},
    }


def write_labels(
    path: Path, bounds: tuple[float, float, float, float], features: list[dict[str, Any]]
) -> None:
    """A chip's road GeoJSON as the release writes it (lines cut at the chip's edge)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    box = shapely.box(*bounds)
    kept = []
    for feature in features:
        line = shapely.LineString([c[:2] for c in feature["geometry"]["coordinates"]])
        inside = line.intersection(box)
        if inside.is_empty or inside.geom_type != "LineString":
            continue
        feature = {**feature, "geometry": {**feature["geometry"]}}
        feature["geometry"]["coordinates"] = [[x, y, 0.0] for x, y in inside.coords]
        kept.append(feature)
    document = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}},
        "features": kept,
    }
    path.write_text(json.dumps(document, indent=1))


def vegas_roads() -> list[dict[str, Any]]:
    """Roads over Vegas chips 1-3: a street along the top row, a motorway bridge over one."""
    west, _, _east, north = chip_box("Vegas", 0, 0)
    top_y = north - 0.5 * SIZE * DEG
    width = 2 * SIZE * DEG
    street = shapely.LineString([(west, top_y), (west + width, top_y)])
    _, south, _, _ = chip_box("Vegas", 0, 1)
    low_y = south + 0.4 * SIZE * DEG
    under = shapely.LineString([(west, low_y), (west + SIZE * DEG, low_y)])
    bridge_x = west + 0.5 * SIZE * DEG
    bridge = shapely.LineString([(bridge_x, south), (bridge_x, south + SIZE * DEG)])
    return [
        _feature(street, 101),
        _feature(under, 102),
        _feature(bridge, 103, road_type="1", lane_number="4", bridge_type="1"),
    ]


def make_release(root: Path) -> Path:
    """Write the fixture under ``root/SN3_roads`` and return that folder."""
    release = root / "SN3_roads"
    train = release / "train"
    vegas = train / "AOI_2_Vegas"
    roads = vegas_roads()
    for number, (col, row) in enumerate([(0, 0), (1, 0), (0, 1), (1, 1)], start=1):
        bounds = chip_box("Vegas", col, row)
        stem = f"SN3_roads_train_AOI_2_Vegas_PS-RGB_img{number}"
        write_chip(vegas / "PS-RGB" / f"{stem}.tif", bounds, seed=number)
        labels = (
            vegas
            / "geojson_roads"
            / f"SN3_roads_train_AOI_2_Vegas_geojson_roads_img{number}.geojson"
        )
        if number == 4:  # no roads on this chip: an empty file, as in the release
            labels.parent.mkdir(parents=True, exist_ok=True)
            labels.write_text("")
            continue
        write_labels(labels, bounds, roads)
    # The speed variant of chip 1 (same lines, speeds added): geojson_roads is preferred.
    speed = [
        {
            **f,
            "properties": {
                **f["properties"],
                "inferred_speed_mph": 25.0,
                "inferred_speed_mps": 11.176,
            },
        }
        for f in roads
    ]
    write_labels(
        vegas
        / "geojson_roads_speed"
        / "SN3_roads_train_AOI_2_Vegas_geojson_roads_speed_img1.geojson",
        chip_box("Vegas", 0, 0),
        speed,
    )
    test = release / "test_public" / "AOI_2_Vegas_Roads_Test_Public" / "RGB-PanSharpen"
    write_chip(test / "RGB-PanSharpen_AOI_2_Vegas_img9.tif", chip_box("Vegas", 3, 0), seed=9)

    khartoum = train / "AOI_5_Khartoum"
    bounds = chip_box("Khartoum", 0, 0)
    write_chip(khartoum / "PS-RGB" / "SN3_roads_train_AOI_5_Khartoum_PS-RGB_img1.tif", bounds, 11)
    west, south, east, north = bounds
    # Early files: Shapefile-truncated field names, codes as integers, an unpaved track.
    track = shapely.LineString([(west, (south + north) / 2), (east, (south + north) / 2)])
    early = _feature(track, 201, road_type=7, paved=2)
    early["properties"]["lane_numbe"] = early["properties"].pop("lane_number")
    early["properties"]["bridge_typ"] = early["properties"].pop("bridge_type")
    write_labels(
        khartoum / "geojson_roads" / "SN3_roads_train_AOI_5_Khartoum_geojson_roads_img1.geojson",
        bounds,
        [early],
    )
    write_chip(
        khartoum / "PS-RGB" / "SN3_roads_train_AOI_5_Khartoum_PS-RGB_img2.tif",
        chip_box("Khartoum", 1, 0),
        12,
    )  # no label file for this chip
    return release


if __name__ == "__main__":
    print(make_release(Path(__file__).parent))
