"""How roads are scored: every setting of ``roadkd evaluate`` and its default, in one place.

Light to import (dataclasses only), so the command line shows these defaults without
loading the metrics.
"""

from dataclasses import dataclass, field

#: Tolerance of relaxed precision/recall, in pixels (a model scored on a dataset split).
RELAXED_BUFFER_PX = 5.0

#: The dataset split a model is scored on.
DEFAULT_SPLIT = "test"

#: Where lines cross without a shared vertex (``--crossings``): a junction unless their
#: levels differ, always a junction, or never (see :mod:`roadkd.metrics.levels`).
CROSSING_MODES = ("auto", "junction", "apart")


@dataclass(frozen=True)
class TopoSettings:
    """TOPO parameters, in metres.

    Attributes:
        radius_m: how far (along the roads) each graph is explored from a seed.
        interval_m: spacing of holes and marbles along the roads.
        hole_m: largest distance between a marble and its hole, and between a seed and
            the proposal for the proposal to be explored there.
        seeds: number of seed points drawn along the truth.
        seed: random seed of the draw.
    """

    radius_m: float = 150.0
    interval_m: float = 30.0
    hole_m: float = 5.0
    seeds: int = 100
    seed: int = 0


@dataclass(frozen=True)
class CompareSettings:
    """How two road layers are compared (every distance in metres).

    Attributes:
        buffer_m: tolerance of length precision/recall and of the error layers.
        snap_m: line ends closer than this are one junction when building road graphs.
        apls_control_m: spacing of APLS control points.
        apls_snap_m: largest distance to snap an APLS control point to the other graph.
        topo: TOPO parameters.
        crossings: where lines cross without a shared vertex: ``"auto"`` (a junction,
            unless their bridge/tunnel/layer, or ``level_field``, differ), ``"junction"``
            or ``"apart"`` (see :mod:`roadkd.metrics.levels`).
        level_field: with ``auto``, the field that gives each line's level instead of
            OpenStreetMap's bridge/tunnel/layer.
    """

    buffer_m: float = 2.0
    snap_m: float = 1.0
    apls_control_m: float = 50.0
    apls_snap_m: float = 4.0
    topo: TopoSettings = field(default_factory=TopoSettings)
    crossings: str = CROSSING_MODES[0]
    level_field: str | None = None
