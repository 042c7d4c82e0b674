"""The file formats roadkd reads and writes, by extension: the one place that knows them.

Commands plan their outputs with these tuples (:class:`roadkd.io.OutputPlan` refuses any
other extension before work starts), and the writers choose a driver with them. Light to
import: the command line reads them without loading GDAL.
"""

#: Vector layers roadkd writes (``roadkd.vectorize.writers``).
GEOJSON = (".geojson", ".json")
GEOPACKAGE = ".gpkg"
SHAPEFILE = ".shp"
#: Files that make up a Shapefile beside its ``.shp``.
SHAPEFILE_SIDECARS = (".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx", ".qmd")
GEOPARQUET = ".parquet"
VECTOR_OUTPUTS = (*GEOJSON, GEOPACKAGE, SHAPEFILE, GEOPARQUET)

#: Outputs that hold several layers: writing one keeps the layers roadkd does not write.
LAYERED = (GEOPACKAGE,)

#: Where layers a command writes by name go (error layers, OpenStreetMap roads).
NAMED_LAYERS = (GEOPACKAGE,)

#: Scores and reports.
REPORT = (".json",)

#: Rasters a folder of scenes is expanded into.
SCENES = (".tif", ".tiff", ".vrt", ".img", ".jp2")

#: The probability raster and the preview of ``roadkd predict``.
PROBABILITY = (".tif", ".tiff")
PREVIEW = (".png",)

#: A probability predicted block by block (on a cluster): a VRT over a folder of blocks.
PROBABILITY_BLOCKS = (".vrt",)


def is_geopackage(path: object) -> bool:
    """Whether a path names a GeoPackage (the only format with named layers)."""
    return str(path).lower().endswith(GEOPACKAGE)
