"""Vectorisation settings, in metres so that they hold at any ground sampling distance."""

from dataclasses import dataclass


@dataclass(frozen=True)
class VectorizeOptions:
    """How a road probability (or mask) raster becomes vectors.

    Defaults follow CRESI, the SpaceNet 5 baseline, converted to metres.

    Attributes:
        threshold: probability at or above which a pixel is road (a 0/1 mask passes 0.5).
        min_blob_m2: road blobs smaller than this are dropped as noise.
        max_hole_m2: holes smaller than this inside road are filled (cars, shadows).
        min_spur_m: dead-end branches shorter than this are pruned (skeleton whiskers).
        min_network_m: connected networks shorter than this in total are dropped.
        bridge_m: dead ends closer than this are joined when their directions agree.
        bridge_angle_deg: largest angle between a dead end's direction and the gap.
        simplify_m: Douglas-Peucker tolerance for lines and polygons.
        min_polygon_m2: surface polygons smaller than this are dropped.
    """

    threshold: float = 0.3
    min_blob_m2: float = 20.0
    max_hole_m2: float = 10.0
    min_spur_m: float = 10.0
    min_network_m: float = 15.0
    bridge_m: float = 12.0
    bridge_angle_deg: float = 30.0
    simplify_m: float = 0.3
    min_polygon_m2: float = 20.0
