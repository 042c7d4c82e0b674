"""The "Compare road layers" algorithm: runs ``roadkd evaluate --truth --pred``."""

import json
import os
import tempfile

from qgis.core import (
    QgsLineSymbol,
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingOutputVectorLayer,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProject,
    QgsSingleSymbolRenderer,
    QgsVectorLayer,
)

from .layers import ROLE, compare_defaults
from .progress import COMPARE_PLAN, Meter
from .report import html_report
from .run import command_parameter, roadkd_command, run_roadkd, show_progress

#: Error layer -> (title in the project, line colour).
ERROR_LAYERS = {
    "missed": ("Missed roads (truth not found)", "#d7191c"),
    "false": ("False roads (no truth nearby)", "#c51b7d"),
}
#: Scores returned as algorithm outputs (report key -> output name).
SCORES = {
    "apls": "APLS",
    "topo_precision": "TOPO_PRECISION",
    "topo_recall": "TOPO_RECALL",
    "topo_f1": "TOPO_F1",
    "length_precision": "LENGTH_PRECISION",
    "length_recall": "LENGTH_RECALL",
    "length_f1": "LENGTH_F1",
}
#: ``roadkd evaluate --crossings`` choices, the default first.
CROSSINGS = ["auto", "junction", "apart"]
FORMATS = ["gpkg", "shp", "geojson", "json", "fgb", "sqlite", "gml", "kml", "tab", "mif"]


class CompareRoads(QgsProcessingAlgorithm):
    """Score a road layer against a reference road layer and load where they differ."""

    TRUTH, PRED, AOI, PROB, BUFFER = "TRUTH", "PRED", "AOI", "PROB", "BUFFER"
    CROSSINGS, HTML, REPORT, ERRORS = "CROSSINGS", "HTML", "REPORT", "ERRORS"

    def name(self):
        return "compareroads"

    def displayName(self):  # noqa: N802 (QGIS's name)
        return "Compare road layers"

    def shortHelpString(self):  # noqa: N802
        return (
            "Compares detected roads with your own reference road layer (any CRS; both are "
            "measured in metres in the data's UTM zone): APLS, TOPO precision/recall/F1 and "
            "the share of road length found within the tolerance. The scores, the km of "
            "truth, detected, missed and false roads and the settings are written to an "
            "HTML report that opens in the Results Viewer (and, if you name a file, to a "
            "JSON report). Loads the reference stretches that were missed (red) and the "
            "detected stretches with no reference road nearby (magenta). Only the area of "
            "interest counts: by default the extent of the probability raster when given, "
            "else the convex hull of the detected roads. Crossings: lines that cross meet "
            "there (auto: unless their OpenStreetMap bridge/tunnel/layer differ; junction: "
            "always; apart: never)."
        )

    def createInstance(self):  # noqa: N802
        return CompareRoads()

    def initAlgorithm(self, config=None):  # noqa: N802
        lines = [QgsProcessing.TypeVectorLine]
        # QGIS builds the algorithm afresh for each dialog: offer two different layers of
        # the project (the last detected roads and another line layer), not the active
        # layer twice.
        truth, pred = compare_defaults(QgsProject.instance())
        self.addParameter(
            QgsProcessingParameterFeatureSource(
                self.TRUTH, "Reference roads (truth)", lines, defaultValue=truth
            )
        )
        self.addParameter(
            QgsProcessingParameterFeatureSource(
                self.PRED, "Detected roads", lines, defaultValue=pred
            )
        )
        self.addParameter(
            QgsProcessingParameterFeatureSource(
                self.AOI, "Area of interest", [QgsProcessing.TypeVectorPolygon], optional=True
            )
        )
        self.addParameter(
            QgsProcessingParameterRasterLayer(self.PROB, "Road probability raster", optional=True)
        )
        tolerance = QgsProcessingParameterNumber(
            self.BUFFER, "Tolerance (m)", QgsProcessingParameterNumber.Double,
            defaultValue=2.0, minValue=0.01,
        )
        tolerance.setMetadata({"widget_wrapper": {"decimals": 2}})
        self.addParameter(tolerance)
        self.addParameter(
            QgsProcessingParameterEnum(
                self.CROSSINGS, "Where lines cross", options=CROSSINGS, defaultValue=0
            )
        )
        self.addParameter(command_parameter())
        self.addParameter(
            QgsProcessingParameterFileDestination(
                self.HTML, "Report", "HTML files (*.html)", QgsProcessing.TEMPORARY_OUTPUT,
                optional=True,
            )
        )
        # A JSON report only where the user asks for one: a temporary one would be lost.
        self.addParameter(
            QgsProcessingParameterFileDestination(
                self.REPORT, "Report as JSON", "JSON files (*.json)", optional=True,
                createByDefault=False,
            )
        )
        self.addParameter(
            QgsProcessingParameterFileDestination(
                self.ERRORS, "Error layers", "GeoPackage (*.gpkg)",
                QgsProcessing.TEMPORARY_OUTPUT, optional=True,
            )
        )
        for key, output in SCORES.items():
            self.addOutput(QgsProcessingOutputNumber(output, key))
        for layer, (title, _) in ERROR_LAYERS.items():
            self.addOutput(QgsProcessingOutputVectorLayer(layer.upper(), title))

    def _source(self, parameters, name, context, feedback):
        """A file roadkd can read for a vector parameter, and its layer name."""
        return self.parameterAsCompatibleSourceLayerPathAndLayerName(
            parameters, name, context, FORMATS, "gpkg", feedback
        )

    def _layer_name(self, parameters, name, context):
        """The name of a vector parameter's layer, for the report."""
        layer = self.parameterAsVectorLayer(parameters, name, context)
        return layer.name() if layer is not None else str(parameters.get(name))

    def _command(self, parameters, context, feedback, report, errors):
        """The ``roadkd evaluate`` command line of a run."""
        command = [roadkd_command(self, parameters, context), "evaluate"]
        for name, option in ((self.TRUTH, "--truth"), (self.PRED, "--pred")):
            path, layer = self._source(parameters, name, context, feedback)
            command += [option, path]
            if layer:
                command += [f"{option}-layer", layer]
        if parameters.get(self.AOI):
            path, layer = self._source(parameters, self.AOI, context, feedback)
            command += ["--aoi", path] + (["--aoi-layer", layer] if layer else [])
        prob = self.parameterAsRasterLayer(parameters, self.PROB, context)
        if prob is not None:
            command += ["--prob", prob.source()]
        command += [
            "--buffer-m", repr(self.parameterAsDouble(parameters, self.BUFFER, context)),
            "--crossings", CROSSINGS[self.parameterAsEnum(parameters, self.CROSSINGS, context)],
            "--out", report,
            "--progress", "json",
        ]
        return command + (["--errors", errors] if errors else [])

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        html = self.parameterAsFileOutput(parameters, self.HTML, context)
        report = self.parameterAsFileOutput(parameters, self.REPORT, context)
        errors = self.parameterAsFileOutput(parameters, self.ERRORS, context)
        meter = Meter(COMPARE_PLAN)
        with tempfile.TemporaryDirectory(prefix="roadkd-compare-") as scratch:
            # without a JSON report asked for, the scores are read from a scratch file
            scores_path = report or os.path.join(scratch, "report.json")
            command = self._command(parameters, context, feedback, scores_path, errors)
            run_roadkd(command, feedback, meter)
            with open(scores_path, encoding="utf-8") as f:
                scores = json.load(f)
        results = {output: scores[key] for key, output in SCORES.items()}
        if html:
            page = html_report(
                scores,
                self._layer_name(parameters, self.TRUTH, context),
                self._layer_name(parameters, self.PRED, context),
            )
            with open(html, "w", encoding="utf-8") as f:
                f.write(page)
            results[self.HTML] = html
        if report:
            results[self.REPORT] = report
        if errors:
            results[self.ERRORS] = errors
            results.update(self._load_errors(errors, context))
        show_progress(feedback, meter.finish())
        return results

    def _load_errors(self, errors, context):
        """Have the ``missed`` and ``false`` layers loaded, styled and named; their outputs."""
        outputs = {}
        for name, (title, colour) in ERROR_LAYERS.items():
            uri = f"{errors}|layername={name}"
            outputs[name.upper()] = uri
            layer = QgsVectorLayer(uri, title, "ogr")
            if not layer.isValid():
                raise QgsProcessingException(f"cannot open the {name} layer of {errors}")
            symbol = QgsLineSymbol.createSimple(
                {"line_color": colour, "line_width": "1.2", "line_width_unit": "MM"}
            )
            layer.setRenderer(QgsSingleSymbolRenderer(symbol))
            layer.setCustomProperty(ROLE, name)
            context.temporaryLayerStore().addMapLayer(layer)
            details = QgsProcessingContext.LayerDetails(title, context.project(), name)
            details.forceName = True  # not the GeoPackage's layer name, "missed"
            context.addLayerToLoadOnCompletion(layer.id(), details)
        return outputs
