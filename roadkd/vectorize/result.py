"""What a vectorisation gives back: the road vectors and how the work ran."""

from dataclasses import dataclass

import geopandas as gpd
import networkx as nx


@dataclass
class RoadVectors:
    """Vectorised roads.

    Attributes:
        centerlines: LineStrings with ``length_m`` and ``width_m``, in the raster's CRS.
        surface: road surface polygons with ``area_m2``, in the raster's CRS.
        graph: the centreline network (a networkx MultiGraph: two roads may join the same
            junctions, and a ring road is a loop); node attribute ``xy`` (CRS units), edge
            attributes ``geometry`` (LineString), ``length_m`` and ``width_m``.
        work: blocks, workers and time, when the vectors come from a raster.
    """

    centerlines: gpd.GeoDataFrame
    surface: gpd.GeoDataFrame
    graph: nx.MultiGraph
    work: "WorkSummary | None" = None


@dataclass(frozen=True)
class WorkSummary:
    """How a vectorisation ran.

    Attributes:
        blocks: blocks the scene was cut into.
        workers: processes that vectorised them.
        megapixels: pixels in the scene, in millions.
        seconds: wall time.
    """

    blocks: int
    workers: int
    megapixels: float
    seconds: float

    @property
    def megapixels_per_second(self) -> float:
        """Throughput."""
        return self.megapixels / self.seconds if self.seconds > 0 else float("inf")

    def describe(self) -> str:
        """One line for a summary: blocks, workers and throughput."""
        blocks = "block" if self.blocks == 1 else "blocks"
        workers = "worker" if self.workers == 1 else "workers"
        speed = self.megapixels_per_second
        return f"{self.blocks} {blocks}, {self.workers} {workers}, {speed:.3g} MP/s"
