"""The "Compare road layers" algorithm: runs ``roadkd evaluate --truth --pred``."""

import json

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
    QgsProcessingParameterString,
    QgsProcessingUtils,
    QgsSingleSymbolRenderer,
    QgsVectorLayer,
)

from .run import run_roadkd

#: Error layer -> (title in the project, line colour).
ERROR_LAYERS = {
    "missed": ("Missed roads (truth not found)", "#d7191c"),
    "false": ("False roads (no truth nearby)", "#2b83ba"),
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
    CROSSINGS = "CROSSINGS"
    ROADKD, REPORT, ERRORS = "ROADKD", "REPORT", "ERRORS"

    def name(self):
        return "compareroads"

    def displayName(self):  # noqa: N802 (QGIS's name)
        return "Compare road layers"

    def shortHelpString(self):  # noqa: N802
        return (
            "Compares detected roads with your own reference road layer (any CRS; both are "
            "measured in metres in the data's UTM zone): APLS, TOPO precision/recall/F1 and "
            "the share of road length found within a buffer. Loads the reference stretches "
            "that were missed (red) and the detected stretches with no reference road "
            "nearby (blue). Only the area of interest counts: by default the extent of the "
            "probability raster when given, else the convex hull of the detected roads. "
            "Crossings: lines that cross meet there (auto: unless their OpenStreetMap "
            "bridge/tunnel/layer differ; junction: always; apart: never)."
        )

    def createInstance(self):  # noqa: N802
        return CompareRoads()

    def initAlgorithm(self, config=None):  # noqa: N802
        lines = [QgsProcessing.TypeVectorLine]
        self.addParameter(QgsProcessingParameterFeatureSource(self.TRUTH, "Reference roads (truth)", lines))
        self.addParameter(QgsProcessingParameterFeatureSource(self.PRED, "Detected roads", lines))
        self.addParameter(
            QgsProcessingParameterFeatureSource(
                self.AOI, "Area of interest", [QgsProcessing.TypeVectorPolygon], optional=True
            )
        )
        self.addParameter(
            QgsProcessingParameterRasterLayer(self.PROB, "Road probability raster", optional=True)
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                self.BUFFER, "Tolerance (m)", QgsProcessingParameterNumber.Double,
                defaultValue=2.0, minValue=0.01,
            )
        )
        self.addParameter(
            QgsProcessingParameterEnum(
                self.CROSSINGS, "Where lines cross", options=CROSSINGS, defaultValue=0
            )
        )
        self.addParameter(
            QgsProcessingParameterString(
                self.ROADKD, "roadkd command (empty: provider setting or PATH)", optional=True
            )
        )
        # optional, so that a headless run may leave them out: then temporary files
        for name, title, kind in ((self.REPORT, "Report", "JSON (*.json)"), (self.ERRORS, "Error layers", "GeoPackage (*.gpkg)")):
            self.addParameter(
                QgsProcessingParameterFileDestination(
                    name, title, kind, QgsProcessing.TEMPORARY_OUTPUT, optional=True, createByDefault=True
                )
            )
        for key, output in SCORES.items():
            self.addOutput(QgsProcessingOutputNumber(output, key))
        for layer, (title, _) in ERROR_LAYERS.items():
            self.addOutput(QgsProcessingOutputVectorLayer(layer.upper(), title))

    def _source(self, parameters, name, context, feedback):
        """A file roadkd can read for a vector parameter, and its layer name."""
        path, layer = self.parameterAsCompatibleSourceLayerPathAndLayerName(
            parameters, name, context, FORMATS, "gpkg", feedback
        )
        return path, layer

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        from .provider import roadkd_executable

        report = self.parameterAsFileOutput(parameters, self.REPORT, context)
        report = report or QgsProcessingUtils.generateTempFilename("report.json")
        errors = self.parameterAsFileOutput(parameters, self.ERRORS, context)
        errors = errors or QgsProcessingUtils.generateTempFilename("errors.gpkg")
        command = [self.parameterAsString(parameters, self.ROADKD, context) or roadkd_executable(), "evaluate"]
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
            "--buffer-m", str(self.parameterAsDouble(parameters, self.BUFFER, context)),
            "--crossings", CROSSINGS[self.parameterAsEnum(parameters, self.CROSSINGS, context)],
            "--out", report,
            "--errors", errors,
        ]
        feedback.setProgress(5)
        run_roadkd(command, feedback)
        feedback.setProgress(100)
        with open(report, encoding="utf-8") as f:
            scores = json.load(f)
        results = {self.REPORT: report, self.ERRORS: errors}
        results.update({output: scores[key] for key, output in SCORES.items()})
        for name, (title, colour) in ERROR_LAYERS.items():
            uri = f"{errors}|layername={name}"
            results[name.upper()] = uri
            layer = QgsVectorLayer(uri, title, "ogr")
            if not layer.isValid():
                raise QgsProcessingException(f"cannot open the {name} layer of {errors}")
            symbol = QgsLineSymbol.createSimple({"line_color": colour, "line_width": "1.2", "line_width_unit": "MM"})
            layer.setRenderer(QgsSingleSymbolRenderer(symbol))
            context.temporaryLayerStore().addMapLayer(layer)
            context.addLayerToLoadOnCompletion(
                layer.id(), QgsProcessingContext.LayerDetails(title, context.project(), name)
            )
        return results
