#!/usr/bin/env python3
"""A recorded Overpass API answer and an OSM XML extract over a small scene near Ottawa.

The scene (:func:`write_scene`): 256 x 256 px of 0.5 m in EPSG:32618, upper-left corner at
:data:`ORIGIN`. The ways, in metres from that corner (x right, y down):

- 1001 ``residential``, west-east at y = 40 m, with a name;
- 1002 ``primary`` with ``lanes=4``, west-east at y = 90 m;
- 1003 ``secondary`` on a bridge (``bridge=yes``, ``layer=1``), north-south at x = 60 m,
  crossing both without a shared node;
- 1004 ``footway``, north-south at x = 100 m;
- 1005 a closed ``residential`` loop (a roundabout-like ring) around (100 m, 60 m);
- 1006 ``pedestrian`` with ``area=yes`` (a square: not a line);
- a ``railway`` way (not a highway) and a lone node.

``overpass_response.json`` beside this file is the answer of an Overpass API server to
``out tags geom`` for these ways (its form: ``version``, ``generator``, ``osm3s`` and
``elements`` with ``geometry`` lists of ``lat``/``lon``); run this file to write it again.
:func:`write_osm_xml` writes the same ways as an ``.osm`` extract for GDAL's OSM driver.
"""

import json
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import numpy as np
import rasterio
from affine import Affine
from pyproj import Transformer

ORIGIN = (445_000.0, 5_030_000.0)
RES = 0.5
SIZE = 256
CRS = "EPSG:32618"
HERE = Path(__file__).parent
RESPONSE = HERE / "overpass_response.json"

#: (id, tags, points in metres from the scene's corner: x right, y down).
WAYS: list[tuple[int, dict[str, str], list[tuple[float, float]]]] = [
    (1001, {"highway": "residential", "name": "Rue Test"}, [(-20, 40), (150, 40)]),
    (1002, {"highway": "primary", "lanes": "4", "maxspeed": "50"}, [(-20, 90), (150, 90)]),
    (
        1003,
        {"highway": "secondary", "bridge": "yes", "layer": "1"},
        [(60, -20), (60, 150)],
    ),
    (1004, {"highway": "footway"}, [(100, -20), (100, 150)]),
    (
        1005,
        {"highway": "residential", "junction": "roundabout"},
        [(95, 60), (100, 55), (105, 60), (100, 65), (95, 60)],
    ),
    (
        1006,
        {"highway": "pedestrian", "area": "yes"},
        [(10, 110), (30, 110), (30, 125), (10, 125), (10, 110)],
    ),
    (1007, {"railway": "rail"}, [(-20, 120), (150, 120)]),
]


def lon_lat(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Scene metres (x right, y down) as WGS84 (lon, lat), rounded as Overpass does."""
    to_wgs84 = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    xs = [ORIGIN[0] + x for x, _ in points]
    ys = [ORIGIN[1] - y for _, y in points]
    lons, lats = to_wgs84.transform(xs, ys)
    return [(round(lo, 7), round(la, 7)) for lo, la in zip(lons, lats, strict=True)]


def response() -> dict[str, Any]:
    """The Overpass answer (``[out:json]``, ``out tags geom``) for :data:`WAYS`."""
    elements: list[dict[str, Any]] = [
        {"type": "node", "id": 1, "lat": 45.41, "lon": -75.69, "tags": {"amenity": "bench"}}
    ]
    for way_id, tags, points in WAYS:
        coords = lon_lat(points)
        lons, lats = [c[0] for c in coords], [c[1] for c in coords]
        elements.append(
            {
                "type": "way",
                "id": way_id,
                "bounds": {
                    "minlat": min(lats),
                    "minlon": min(lons),
                    "maxlat": max(lats),
                    "maxlon": max(lons),
                },
                "nodes": list(range(way_id * 10, way_id * 10 + len(coords))),
                "geometry": [{"lat": la, "lon": lo} for lo, la in coords],
                "tags": tags,
            }
        )
    return {
        "version": 0.6,
        "generator": "Overpass API 0.7.62.1 084b4234",
        "osm3s": {
            "timestamp_osm_base": "2024-05-01T12:00:00Z",
            "copyright": "The data included in this document is from www.openstreetmap.org. "
            "The data is made available under ODbL.",
        },
        "elements": elements,
    }


def write_scene(path: Path) -> Path:
    """The scene the ways lie on: RGB uint8, EPSG:32618, 0.5 m/px."""
    rng = np.random.default_rng(0)
    profile = {
        "driver": "GTiff",
        "width": SIZE,
        "height": SIZE,
        "count": 3,
        "dtype": "uint8",
        "crs": CRS,
        "transform": Affine(RES, 0, ORIGIN[0], 0, -RES, ORIGIN[1]),
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(rng.integers(0, 255, (3, SIZE, SIZE), dtype=np.uint8))
    return path


def write_osm_xml(path: Path) -> Path:
    """:data:`WAYS` as an OSM XML extract (nodes in increasing id order, then ways)."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
    ways = []
    for way_id, tags, points in WAYS:
        refs = []
        for index, (lon, lat) in enumerate(lon_lat(points)):
            node = way_id * 10 + index
            if index == len(points) - 1 and points[0] == points[-1]:
                node = way_id * 10  # a closed way ends on its first node
            else:
                lines.append(f'  <node id="{node}" version="1" lat="{lat}" lon="{lon}"/>')
            refs.append(node)
        body = [f'    <nd ref="{ref}"/>' for ref in refs]
        body += [f"    <tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in tags.items()]
        ways.append("\n".join([f'  <way id="{way_id}" version="1">', *body, "  </way>"]))
    lines += [*ways, "</osm>"]
    path.write_text("\n".join(lines) + "\n")
    return path


if __name__ == "__main__":
    RESPONSE.write_text(json.dumps(response(), indent=1) + "\n")
    print(RESPONSE)
