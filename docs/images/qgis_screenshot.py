r"""Render docs/images/qgis_roads.png: Detect roads' layers as QGIS draws them.

Runs in QGIS's own Python, headless (no display needed)::

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 docs/images/qgis_screenshot.py \
        SCENE.tif MODEL.ckpt ROADKD [OUT.png]

The roadkd plugin (from this checkout) runs "Detect roads" on the scene, QGIS loads the
centrelines and surfaces with the plugin's styles, in the plugin's order, and a print
layout with the map and its legend is exported as a PNG.
"""

import sys
import tempfile
from pathlib import Path

from qgis.core import (
    QgsApplication,
    QgsLayout,
    QgsLayoutExporter,
    QgsLayoutItemLegend,
    QgsLayoutItemMap,
    QgsLayoutPoint,
    QgsLayoutSize,
    QgsProject,
    QgsRasterLayer,
    QgsUnitTypes,
)

HERE = Path(__file__).resolve().parent
PLUGINS = HERE.parents[1] / "roadkd" / "qgis"


def main(scene: str, model: str, roadkd: str, out: str) -> None:
    """Detect roads in ``scene`` with the plugin and export the map with its legend."""
    QgsApplication.setPrefixPath("/usr", True)
    app = QgsApplication([], False)
    app.initQgis()
    sys.path[:0] = ["/usr/share/qgis/python/plugins", str(PLUGINS)]
    import processing
    from processing.core.Processing import Processing
    from roadkd_qgis.provider import RoadkdProvider

    Processing.initialize()
    provider = RoadkdProvider()  # kept: QGIS holds Python providers weakly
    QgsApplication.processingRegistry().addProvider(provider)
    project = QgsProject.instance()
    raster = QgsRasterLayer(scene, Path(scene).stem)
    project.addMapLayer(raster)
    with tempfile.TemporaryDirectory() as folder:
        processing.runAndLoadResults(
            "roadkd:detectroads",
            {
                "INPUT": scene,
                "MODEL": model,
                "ROADKD": roadkd,
                "OUTPUT": f"{folder}/roads.gpkg",
                "SURFACE": f"{folder}/surface.gpkg",
            },
        )
        layout = QgsLayout(project)
        layout.initializeDefaults()
        page = layout.pageCollection().page(0)
        page.setPageSize(QgsLayoutSize(200, 130, QgsUnitTypes.LayoutMillimeters))
        canvas = QgsLayoutItemMap(layout)
        canvas.attemptMove(QgsLayoutPoint(0, 0, QgsUnitTypes.LayoutMillimeters))
        canvas.attemptResize(QgsLayoutSize(130, 130, QgsUnitTypes.LayoutMillimeters))
        canvas.setLayers([node.layer() for node in project.layerTreeRoot().findLayers()])
        extent = raster.extent()
        extent.scale(0.6)  # the middle of the scene, large enough to see the classes
        canvas.setExtent(extent)
        layout.addLayoutItem(canvas)
        legend = QgsLayoutItemLegend(layout)
        legend.setTitle("Layers")
        legend.setLinkedMap(canvas)
        legend.setAutoUpdateModel(False)  # the road layers only, not the raster's bands
        root = legend.model().rootGroup()
        root.removeChildNode(root.findLayer(raster.id()))
        legend.attemptMove(QgsLayoutPoint(133, 4, QgsUnitTypes.LayoutMillimeters))
        layout.addLayoutItem(legend)
        settings = QgsLayoutExporter.ImageExportSettings()
        settings.dpi = 90
        result = QgsLayoutExporter(layout).exportToImage(out, settings)
        if result != QgsLayoutExporter.Success:
            raise SystemExit(f"export failed: {result}")
    # a small file for the README: 256 colours, the legend's kept exactly
    from PIL import Image

    image = Image.open(out).convert("RGB")
    image.quantize(256, method=Image.Quantize.MAXCOVERAGE).save(out, optimize=True)
    print(f"-> {out}")


if __name__ == "__main__":
    arguments = sys.argv[1:]
    if len(arguments) not in (3, 4):
        raise SystemExit(__doc__)
    main(*arguments[:3], arguments[3] if len(arguments) == 4 else str(HERE / "qgis_roads.png"))
