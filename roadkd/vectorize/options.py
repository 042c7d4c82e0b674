"""Vectorisation settings, in metres so that they hold at any ground sampling distance."""

from dataclasses import dataclass

#: Default side of a block's core in pixels: at 0.21 m a block is 0.74 km2 and a worker
#: needs about 1 GB for it.
DEFAULT_BLOCK = 4096


@dataclass(frozen=True)
class VectorizeOptions:
    """How a road probability (or mask) raster becomes vectors.

    Defaults follow CRESI, the SpaceNet 5 baseline, converted to metres.

    Attributes:
        threshold: probability at or above which a pixel is road (a 0/1 mask passes
            anything in (0, 1]).
        min_blob_m2: road blobs smaller than this are dropped as noise.
        max_hole_m2: holes smaller than this inside road are filled (cars, shadows).
        min_spur_m: dead-end branches shorter than this that hang off a junction are
            pruned (skeleton whiskers).
        min_network_m: connected networks shorter than this in total are dropped.
        bridge_m: dead ends closer than this are joined when their directions agree.
        bridge_angle_deg: largest angle between a dead end's direction and the gap.
        junction_m: junctions closer than this are merged into one (a crossroads whose
            skeleton splits into two nearby three-way nodes).
        simplify_m: Douglas-Peucker tolerance for lines and polygons; ``None`` means one
            pixel.
        min_polygon_m2: surface polygons smaller than this are dropped.
        extend_ends: extend dead ends along the road to the end of the road surface. By
            default a line stops where the skeleton stops, half a road width inside the
            paved end, which is where a centreline drawn with round caps ends.
        max_road_width_m: the widest road (or paved area) that must vectorise exactly the
            same in blocks as in one piece: it sets, with the other distances, the halo
            each block is read with. Wider paved areas still vectorise, but their
            skeleton may differ slightly where a block border cuts them.
    """

    threshold: float = 0.3
    min_blob_m2: float = 20.0
    max_hole_m2: float = 10.0
    min_spur_m: float = 10.0
    min_network_m: float = 15.0
    bridge_m: float = 12.0
    bridge_angle_deg: float = 30.0
    junction_m: float = 2.0
    simplify_m: float | None = None
    min_polygon_m2: float = 20.0
    extend_ends: bool = False
    max_road_width_m: float = 30.0
