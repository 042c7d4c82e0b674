"""Compare a proposed road layer with a reference road layer, in metres.

``roadkd evaluate --truth ROADS --pred ROADS``: the two line layers (any format GDAL
reads, any CRS) are reprojected to the local UTM zone of the data, limited to one area
(an AOI polygon, the extent of the probability raster, or the prediction's convex hull)
and scored with APLS (``roadkd.metrics.apls``), TOPO (``roadkd.metrics.topo``) and length
precision/recall within a buffer (``roadkd.metrics.coverage``). Both become road graphs
(``roadkd.metrics.linegraph``) by a crossing rule read from each layer's attributes
(``roadkd.metrics.levels``). The stretches outside the buffer (missed truth, false
proposal) are kept as layers to look at.
"""

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyogrio.errors import DataLayerError, DataSourceError
from pyproj import CRS
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from .errors import RoadkdError
from .formats import GEOPACKAGE, is_geopackage
from .imagery.utm import utm_crs
from .io import atomic_output
from .layers import LINE_TYPES, POLYGON_TYPES, read_layer
from .metrics.apls import apls_scores
from .metrics.coverage import match_lengths
from .metrics.levels import MODES, CrossingRule, crossing_rule, field_column
from .metrics.linegraph import lines_to_graph
from .metrics.options import CompareSettings
from .metrics.topo import topo_scores
from .progress import Progress, report_stage
from .raster import open_raster
from .vectorize.confidence import line_confidence

#: Decimals of the scores in the report.
DECIMALS = 4


@dataclass
class Comparison:
    """Scores of a proposed road layer against a reference one, and where they differ.

    Attributes:
        scores: ``apls`` (and its two directions), ``topo_precision``, ``topo_recall``,
            ``topo_f1``, ``length_precision``, ``length_recall``, ``length_f1`` in [0, 1];
            ``truth_km``, ``pred_km``, ``missed_km``, ``false_km``.
        inputs: the compared files, the working CRS, the area and the crossing rule applied.
        settings: the settings used.
        missed: truth stretches with no prediction within the buffer (truth attributes).
        false: predicted stretches with no truth within the buffer (prediction attributes).
    """

    scores: dict[str, float]
    inputs: dict[str, Any]
    settings: CompareSettings
    missed: gpd.GeoDataFrame
    false: gpd.GeoDataFrame

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON: the scores at the top, then inputs and settings."""
        return {**self.scores, "inputs": self.inputs, "settings": asdict(self.settings)}

    def table(self) -> str:
        """A short readable summary."""
        s = self.scores
        return "\n".join(
            [
                f"Crossings ({self.settings.crossings}): {self.inputs['crossings']}",
                f"APLS                     {s['apls']:.3f}",
                "TOPO      P / R / F1     "
                f"{s['topo_precision']:.3f} / {s['topo_recall']:.3f} / {s['topo_f1']:.3f}",
                f"length    P / R / F1     {s['length_precision']:.3f} / "
                f"{s['length_recall']:.3f} / {s['length_f1']:.3f}"
                f"   (within {self.settings.buffer_m:g} m)",
                f"truth {s['truth_km']:.2f} km, prediction {s['pred_km']:.2f} km, "
                f"missed {s['missed_km']:.2f} km, false {s['false_km']:.2f} km "
                f"({self.inputs['crs']}, area: {self.inputs['area']})",
            ]
        )


def working_crs(*frames: gpd.GeoDataFrame) -> CRS:
    """The UTM zone of the layers' data: at the centre of their bounds in WGS84."""
    boxes = [
        gpd.GeoSeries([box(*f.total_bounds)], crs=f.crs).to_crs("EPSG:4326")
        for f in frames
        if not f.empty
    ]
    if not boxes:
        raise RoadkdError("the area to compare is empty (an AOI layer without polygons?)")
    west, south, east, north = gpd.GeoSeries(pd.concat(boxes), crs="EPSG:4326").total_bounds
    zone = utm_crs(CRS.from_epsg(4326), (west + east) / 2, (south + north) / 2, "the layers")
    return CRS.from_epsg(zone.to_epsg())


def raster_extent(path: str | Path) -> gpd.GeoDataFrame:
    """The extent of a raster as a polygon in its CRS (edges densified for reprojecting).

    Raises:
        RoadkdError: for a missing or unreadable raster, or one without a CRS.
    """
    with open_raster(path, "probability raster") as src:
        bounds, crs = src.bounds, src.crs
    outline = shapely.segmentize(box(*bounds), max(bounds[2] - bounds[0], 1e-9) / 64)
    return gpd.GeoDataFrame(geometry=[outline], crs=crs)


def _line_rows(frame: gpd.GeoDataFrame, area: BaseGeometry) -> gpd.GeoDataFrame:
    """The layer cut to ``area``, one LineString per row (attributes kept)."""
    clipped = frame.copy()
    clipped.geometry = shapely.intersection(frame.geometry.values, area)
    parts = clipped.explode(index_parts=False).explode(index_parts=False)
    parts = parts[parts.geom_type == "LineString"]
    parts = parts[parts.geometry.length > 0]
    return parts.reset_index(drop=True)


def _errors(rows: gpd.GeoDataFrame, parts: list[BaseGeometry]) -> gpd.GeoDataFrame:
    """The rows' unmatched parts as a LineString layer with ``length_m``."""
    errors = rows.copy()
    errors.geometry = parts
    errors = errors[~errors.geometry.is_empty].explode(index_parts=False)
    errors = errors[(errors.geom_type == "LineString") & (errors.geometry.length > 0)]
    errors = errors.reset_index(drop=True)
    errors["length_m"] = np.round(errors.geometry.length.to_numpy(), 2)
    # attributes GeoPackage cannot hold (lists, dicts from GeoJSON) are kept as text
    for column in errors.columns.drop(errors.geometry.name):
        values = errors[column]
        if (
            values.dtype == object
            and not values.map(lambda v: v is None or isinstance(v, str)).all()
        ):
            errors[column] = values.map(lambda v: v if v is None else str(v))
    return errors


def _crossings_text(rules: dict[str, CrossingRule]) -> str:
    """The crossing rule applied, in one line (said once if both layers had the same)."""
    texts = {rule.description for rule in rules.values()}
    if len(texts) == 1:
        return texts.pop()
    return "; ".join(f"{name}: {rule.description}" for name, rule in rules.items())


def compare_layers(
    truth: str | Path,
    pred: str | Path,
    truth_layer: str | None = None,
    pred_layer: str | None = None,
    aoi: str | Path | None = None,
    prob: str | Path | None = None,
    settings: CompareSettings | None = None,
    aoi_layer: str | None = None,
    progress: bool | Progress = False,
) -> Comparison:
    """Score a predicted road layer against a reference road layer.

    Args:
        truth: reference road lines (any GDAL vector file, any CRS).
        pred: predicted road lines (e.g. ``roadkd predict`` output).
        truth_layer: layer of ``truth`` (default: its first line layer).
        pred_layer: layer of ``pred`` (default: its first line layer).
        aoi: polygon layer limiting both layers (truth outside it is not missed).
        prob: the prediction's probability raster: its extent is the default area, and
            the error layers get ``confidence`` sampled from it.
        settings: tolerances and metric parameters.
        aoi_layer: layer of ``aoi`` (default: its first polygon layer).
        progress: told as each step begins (reading, lengths, graphs, APLS, TOPO, error
            layers) if it is a :class:`~roadkd.progress.StageReport` (JSON lines).

    Returns:
        Scores and error layers, in the UTM zone of the data.

    Raises:
        RoadkdError: for unreadable inputs, layers that are not lines, or no truth road
            inside the area.
    """
    config = settings or CompareSettings()
    if config.crossings not in MODES:
        raise RoadkdError(f"crossings must be one of {', '.join(MODES)}, not {config.crossings!r}")
    if config.level_field is not None and config.crossings != "auto":
        raise RoadkdError(
            f"a level field only applies to crossings 'auto', not {config.crossings!r}"
        )
    report_stage(progress, "read")
    truth_frame = read_layer(truth, LINE_TYPES, "truth", truth_layer)
    pred_frame = read_layer(pred, LINE_TYPES, "prediction", pred_layer)
    area_frame = read_layer(aoi, POLYGON_TYPES, "AOI", aoi_layer) if aoi is not None else None
    if area_frame is not None:
        area_name = str(aoi)
    elif prob is not None:
        area_frame, area_name = raster_extent(prob), f"extent of {prob}"
    elif not pred_frame.empty:
        area_name = "convex hull of the prediction"
    else:
        raise RoadkdError(
            "the prediction is empty: give --aoi (or --prob) to say which area it covers"
        )
    # the UTM zone of the area compared (data far outside it must not pull the zone away)
    crs = working_crs(area_frame if area_frame is not None else pred_frame)
    truth_frame, pred_frame = truth_frame.to_crs(crs), pred_frame.to_crs(crs)
    if area_frame is not None:
        area = shapely.union_all(area_frame.to_crs(crs).geometry.values)
    else:
        hull = shapely.union_all(pred_frame.geometry.values).convex_hull
        # a road on the hull's edge is found up to the buffer's width outside it
        area = hull.buffer(config.buffer_m)
    shapely.prepare(area)
    truth_rows, pred_rows = _line_rows(truth_frame, area), _line_rows(pred_frame, area)
    if truth_rows.empty:
        raise RoadkdError(f"no truth road inside the area compared ({area_name})")
    truth_lines, pred_lines = list(truth_rows.geometry), list(pred_rows.geometry)

    rules = {
        name: crossing_rule(rows, config.crossings, config.level_field)
        for name, rows in (("truth", truth_rows), ("prediction", pred_rows))
    }
    frames = (truth_rows, pred_rows)
    if config.level_field and not any(field_column(f, config.level_field) for f in frames):
        fields = ", ".join(map(str, truth_rows.columns.drop(truth_rows.geometry.name)))
        raise RoadkdError(
            f"neither layer has a field {config.level_field!r} (the truth's fields: "
            f"{fields or 'none'})"
        )

    report_stage(progress, "length")
    lengths = match_lengths(truth_lines, pred_lines, config.buffer_m)
    report_stage(progress, "graph")
    truth_graph, pred_graph = (
        lines_to_graph(lines, config.snap_m, rule.levels, rule.crossings)
        for lines, rule in ((truth_lines, rules["truth"]), (pred_lines, rules["prediction"]))
    )
    report_stage(progress, "apls")
    apls = apls_scores(
        truth_graph, pred_graph, control_m=config.apls_control_m, snap_m=config.apls_snap_m
    )
    report_stage(progress, "topo")
    topo = topo_scores(truth_graph, pred_graph, config.topo)
    scores: dict[str, float] = {
        **apls,
        **topo,
        **{k: v for k, v in lengths.scores.items() if k.startswith("length_")},
    }
    scores = {k: round(float(v), DECIMALS) for k, v in scores.items()}
    for key in ("truth", "proposal", "missed", "false"):
        name = "pred" if key == "proposal" else key
        scores[f"{name}_km"] = round(lengths.scores[f"{key}_m"] / 1000, DECIMALS)
    report_stage(progress, "errors")
    missed, false = _errors(truth_rows, lengths.missed), _errors(pred_rows, lengths.false)
    if prob is not None:
        missed, false = line_confidence(missed, prob), line_confidence(false, prob)
    inputs = {
        "truth": str(truth),
        "pred": str(pred),
        "crs": crs.to_string(),
        "area": area_name,
        "area_km2": round(area.area / 1e6, DECIMALS),
        "crossings": _crossings_text(rules),
    }
    return Comparison(scores, inputs, config, missed, false)


def write_report(comparison: Comparison, out: str | Path) -> None:
    """Write the scores, inputs and settings as JSON, atomically."""
    with atomic_output(out) as tmp:
        tmp.write_text(json.dumps(comparison.to_dict(), indent=2) + "\n")


def write_errors(comparison: Comparison, path: str | Path) -> None:
    """Write the ``missed`` and ``false`` LineString layers to a GeoPackage.

    Written straight to ``path`` (a staged path of an :class:`~roadkd.io.OutputPlan`):
    layers of those names are replaced, the file's other layers stay.

    Raises:
        RoadkdError: for a path that is not a .gpkg or a failed write.
    """
    target = Path(path)
    if not is_geopackage(target):
        raise RoadkdError(f"cannot write {target}: the error layers go to a {GEOPACKAGE}")
    try:
        for layer, frame in (("missed", comparison.missed), ("false", comparison.false)):
            frame.to_file(
                target, layer=layer, driver="GPKG", engine="pyogrio", geometry_type="LineString"
            )
    except (OSError, DataSourceError, DataLayerError) as err:
        raise RoadkdError(f"cannot write {target.name}: {err}") from err
