"""Length precision and recall of road lines within a buffer, and the stretches outside it.

The vector counterpart of relaxed precision/recall: a stretch of one layer counts as
found when the other layer passes within ``buffer_m`` of it. Lengths are in the units of
the coordinates, which must be metres (a projected CRS). A stretch drawn twice
(duplicated or overlapping lines) counts once in the lengths.
"""

from dataclasses import dataclass

import numpy as np
import shapely
from shapely import STRtree
from shapely.geometry.base import BaseGeometry

from .linegraph import GRID_M


def unmatched_parts(
    lines: list[BaseGeometry], reference: list[BaseGeometry], buffer_m: float
) -> list[BaseGeometry]:
    """The parts of each line farther than ``buffer_m`` from every reference line.

    Args:
        lines: line geometries.
        reference: the line geometries they are looked for in, same CRS.
        buffer_m: tolerance.

    Returns:
        One geometry per line (empty when all of it is within the buffer).
    """
    geometries = np.asarray(lines, dtype=object)
    if len(reference) == 0:
        return list(geometries)
    candidates = np.asarray(reference, dtype=object)
    zones = shapely.buffer(candidates, buffer_m)
    which, near = STRtree(candidates).query(geometries, predicate="dwithin", distance=buffer_m)
    out = list(geometries)
    # a line inside one reference line's buffer is found whole (the common case): skip
    # the costly union of buffers for it
    whole = np.zeros(len(geometries), bool)
    whole[which[shapely.covered_by(geometries[which], zones[near])]] = True
    for i in np.flatnonzero(whole):
        out[i] = shapely.LineString()
    keep = ~whole[which]
    which, near = which[keep], near[keep]
    if len(which) == 0:
        return out
    order = np.argsort(which, kind="stable")
    found, starts = np.unique(which[order], return_index=True)
    # each line against the union of the buffers of the reference lines near it only
    for i, group in zip(found.tolist(), np.split(near[order], starts[1:]), strict=True):
        out[i] = shapely.difference(geometries[i], shapely.union_all(zones[group]))
    return out


@dataclass
class LengthMatch:
    """Lengths of two line layers matched within a buffer.

    Attributes:
        scores: ``length_precision`` (proposal length within the buffer of the truth /
            proposal length), ``length_recall`` (the converse), ``length_f1``, and the
            lengths ``truth_m``, ``proposal_m``, ``missed_m``, ``false_m``.
        missed: per truth line, its part with no proposal within the buffer.
        false: per proposal line, its part with no truth within the buffer.
    """

    scores: dict[str, float]
    missed: list[BaseGeometry]
    false: list[BaseGeometry]


def _total_length(lines: list[BaseGeometry]) -> float:
    """Length of the lines, a stretch drawn twice (duplicated, overlapping) counted once."""
    if not lines:
        return 0.0
    return float(
        shapely.length(shapely.union_all(np.asarray(lines, dtype=object), grid_size=GRID_M))
    )


def match_lengths(
    truth: list[BaseGeometry], proposal: list[BaseGeometry], buffer_m: float = 2.0
) -> LengthMatch:
    """Match the truth's length with the proposal's within a buffer.

    Args:
        truth: reference road lines (metres).
        proposal: proposed road lines, same CRS.
        buffer_m: a stretch counts as found when the other layer is within this.

    Returns:
        Scores and the unmatched parts. With an empty layer, precision (or recall) is 1
        only if the other layer is empty too.
    """
    missed = unmatched_parts(truth, proposal, buffer_m)
    false = unmatched_parts(proposal, truth, buffer_m)
    truth_m, proposal_m = _total_length(truth), _total_length(proposal)
    missed_m, false_m = _total_length(missed), _total_length(false)
    recall = 1 - missed_m / truth_m if truth_m > 0 else float(proposal_m == 0)
    precision = 1 - false_m / proposal_m if proposal_m > 0 else float(truth_m == 0)
    total = precision + recall
    scores = {
        "length_precision": precision,
        "length_recall": recall,
        "length_f1": 2 * precision * recall / total if total > 0 else 0.0,
        "truth_m": truth_m,
        "proposal_m": proposal_m,
        "missed_m": missed_m,
        "false_m": false_m,
    }
    return LengthMatch(scores=scores, missed=missed, false=false)
