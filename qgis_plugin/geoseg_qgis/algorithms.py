"""Processing algorithms: extract buildings from one raster (a file, a URL, or an XYZ/WMTS
layer) or from every raster of a folder, re-threshold a probability raster, and compare
buildings found with buildings already mapped. All run the geoseg command line, so they work
in the toolbox, the model builder, batch mode and qgis_process."""

from __future__ import annotations

import tempfile

from qgis.core import (
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingLayerPostProcessorInterface,
    QgsProcessingException,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorDestination,
)

from . import runner
from .settings import configured_executable
from .styles import style_changes
from .vectors import LayerError, vector_file

DEVICES = ["auto", "cpu", "cuda"]


def run_cli(args: list[str], feedback) -> None:
    """Run geoseg with Processing's progress and cancel; a failure becomes the CLI's one line,
    geoseg's notes (such as waiting for another batch run) go to the log."""
    feedback.pushCommandInfo(" ".join(args))
    try:
        code, error = runner.run(args, feedback.setProgress, feedback.isCanceled, feedback.pushInfo)
    except runner.RunnerError as exc:
        raise QgsProcessingException(str(exc)) from None
    if feedback.isCanceled():
        raise QgsProcessingException("cancelled; nothing was written")
    if code != 0:
        raise QgsProcessingException(error or f"geoseg exited with {code}")


def executable() -> str:
    try:
        return runner.find_executable(configured_executable())
    except runner.RunnerError as exc:
        raise QgsProcessingException(str(exc)) from None


class _Base(QgsProcessingAlgorithm):
    """What both algorithms offer: the model and how it runs, the area, and how probabilities
    become polygons. Each parameter left alone leaves geoseg's (or the model's) default."""

    def group(self) -> str:
        return "Buildings"

    def groupId(self) -> str:  # noqa: N802
        return "buildings"

    def createInstance(self):  # noqa: N802
        return type(self)()

    def _prediction_parameters(self) -> None:
        self.addParameter(QgsProcessingParameterString(
            "MODEL", "Model (name or weights file; empty: the shipped building model)", optional=True))
        self.addParameter(QgsProcessingParameterEnum("DEVICE", "Device", options=DEVICES, defaultValue=0))
        self._area_parameters()
        self._shaping_parameters()
        self.addParameter(QgsProcessingParameterBoolean(
            "NATIVE_PIXELS", "Keep the raster's own pixel size (default: resample to the model's)", defaultValue=False))

    def _area_parameters(self) -> None:
        self.addParameter(QgsProcessingParameterExtent("EXTENT", "Only inside this extent", optional=True))
        self.addParameter(QgsProcessingParameterFeatureSource(
            "AOI", "Only inside these polygons", [QgsProcessing.TypeVectorPolygon], optional=True))

    def _shaping_parameters(self) -> None:
        self.addParameter(QgsProcessingParameterNumber(
            "THRESHOLD", "Building probability threshold (empty: the model's)", QgsProcessingParameterNumber.Double,
            None, optional=True, minValue=0.01, maxValue=0.99))
        self.addParameter(QgsProcessingParameterEnum(
            "SEPARATE", "Touching buildings", options=list(runner.SEPARATE), defaultValue=0))
        self.addParameter(QgsProcessingParameterBoolean("REGULARIZE", "Straighten outlines", defaultValue=False))

    def _raster_file(self, parameters, context) -> str:
        """What geoseg reads for the INPUT raster layer: its file or URL, or its XYZ/WMTS service."""
        layer = self.parameterAsRasterLayer(parameters, "INPUT", context)
        scene = runner.layer_scene(layer.providerType(), layer.source()) if layer is not None else None
        if scene is None:
            raise QgsProcessingException("the input must be a raster layer that GDAL reads (a file or a URL) "
                                         "or an XYZ or WMTS tile layer")
        return scene

    def _options(self, parameters, context, feedback) -> dict:
        """geoseg's options (by name) for the parameters this algorithm has and the user gave."""
        has = lambda name: self.parameterDefinition(name) is not None  # noqa: E731
        given = lambda name: has(name) and parameters.get(name) not in (None, "")  # noqa: E731
        options = {
            "separate": list(runner.SEPARATE.values())[self.parameterAsEnum(parameters, "SEPARATE", context)],
            "regularize": True if self.parameterAsBool(parameters, "REGULARIZE", context) else None,
        }
        if has("MODEL"):
            options["model"] = self.parameterAsString(parameters, "MODEL", context) or None
            options["device"] = DEVICES[self.parameterAsEnum(parameters, "DEVICE", context)]
            options["gsd"] = "native" if self.parameterAsBool(parameters, "NATIVE_PIXELS", context) else None
        if given("THRESHOLD"):
            options["threshold"] = self.parameterAsDouble(parameters, "THRESHOLD", context)
        if given("EXTENT"):
            extent = self.parameterAsExtent(parameters, "EXTENT", context)
            crs = self.parameterAsExtentCrs(parameters, "EXTENT", context)
            options["bbox"] = (extent.xMinimum(), extent.yMinimum(), extent.xMaximum(), extent.yMaximum())
            options["bbox_crs"] = crs.authid() or crs.toWkt()
        if given("AOI"):
            if "bbox" in options:
                raise QgsProcessingException("give an extent or polygons as the area, not both")
            options["aoi"] = self.parameterAsCompatibleSourceLayerPath(
                parameters, "AOI", context, ["gpkg", "shp", "geojson"], "gpkg", feedback)
        return {k: v for k, v in options.items() if v is not None}


class ExtractBuildings(_Base):
    def name(self) -> str:
        return "extractbuildings"

    def displayName(self) -> str:  # noqa: N802
        return "Extract buildings"

    def shortHelpString(self) -> str:  # noqa: N802
        return ("Finds the buildings in a georeferenced raster with geoseg's building model and writes one "
                "polygon per building (area_m2, perimeter_m, score) in the raster's CRS. Optionally also "
                "the building probability raster. With an extent or polygons, only that area is read and "
                "buildings crossing its edge are cut there. An XYZ or WMTS tile layer (an online basemap) "
                "needs an extent or polygons: only the tiles over them are fetched, at the zoom that matches "
                "the model's pixel size.")

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer("INPUT", "Raster layer"))
        self._prediction_parameters()
        output = QgsProcessingParameterVectorDestination(
            "OUTPUT", "Buildings", QgsProcessing.TypeVectorPolygon)
        output.setSupportsNonFileBasedOutput(False)
        self.addParameter(output)
        raster = QgsProcessingParameterRasterDestination(
            "PROBABILITY", "Building probability", optional=True, createByDefault=False)
        raster.setSupportsNonFileBasedOutput(False)
        self.addParameter(raster)

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        scene = self._raster_file(parameters, context)
        output = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        raster = self.parameterAsOutputLayer(parameters, "PROBABILITY", context) or None
        args = runner.predict_command(executable(), scene, output,
                                      self._options(parameters, context, feedback), raster)
        run_cli(args, feedback)
        return {"OUTPUT": output, "PROBABILITY": raster}


class ExtractBuildingsBatch(_Base):
    def name(self) -> str:
        return "extractbuildingsbatch"

    def displayName(self) -> str:  # noqa: N802
        return "Extract buildings (batch over folder)"

    def shortHelpString(self) -> str:  # noqa: N802
        return ("Runs geoseg over every raster of a folder: one GeoPackage per input, skipping inputs already "
                "done with the same model and settings, and optionally one merged layer with buildings "
                "across tile borders joined. If another run is working on the output folder, this one "
                "waits for it and says so in the log.")

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self.addParameter(QgsProcessingParameterFile("FOLDER", "Input folder", QgsProcessingParameterFile.Folder))
        self.addParameter(QgsProcessingParameterString("PATTERN", "File pattern", defaultValue="*.tif"))
        self.addParameter(QgsProcessingParameterBoolean("RECURSIVE", "Include subfolders", defaultValue=False))
        self._prediction_parameters()
        self.addParameter(QgsProcessingParameterFolderDestination("OUTPUT_FOLDER", "Output folder"))
        self.addParameter(QgsProcessingParameterFileDestination(
            "MERGED", "Merged buildings", "GeoPackage (*.gpkg)", optional=True, createByDefault=False))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        folder = self.parameterAsFile(parameters, "FOLDER", context)
        output_folder = self.parameterAsString(parameters, "OUTPUT_FOLDER", context)
        merged = self.parameterAsFileOutput(parameters, "MERGED", context) or None
        args = runner.batch_command(
            executable(), folder, output_folder, self._options(parameters, context, feedback),
            self.parameterAsString(parameters, "PATTERN", context),
            self.parameterAsBool(parameters, "RECURSIVE", context), merged,
        )
        run_cli(args, feedback)
        return {"OUTPUT_FOLDER": output_folder, "MERGED": merged}


class VectorizeProbability(_Base):
    def name(self) -> str:
        return "vectorizeprobability"

    def displayName(self) -> str:  # noqa: N802
        return "Buildings from a probability raster"

    def shortHelpString(self) -> str:  # noqa: N802
        return ("Turns a building probability raster (as 'Extract buildings' writes it) into building polygons "
                "without running the model again: re-threshold or re-shape in seconds. The threshold and the "
                "splitting of touching buildings default to what the extraction used.")

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer("INPUT", "Building probability raster"))
        self._area_parameters()
        self._shaping_parameters()
        output = QgsProcessingParameterVectorDestination("OUTPUT", "Buildings", QgsProcessing.TypeVectorPolygon)
        output.setSupportsNonFileBasedOutput(False)
        self.addParameter(output)

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        raster = self._raster_file(parameters, context)
        output = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        args = runner.vectorize_command(executable(), raster, output, self._options(parameters, context, feedback))
        run_cli(args, feedback)
        return {"OUTPUT": output}


MATCHES = {"one-to-one, intersection over union at least the minimum": "iou",
           "any overlap (an existing layer drawn at another level of detail)": "overlap"}
_STYLERS: list = []  # Processing keeps only a weak reference to a layer post-processor


class _ChangesStyle(QgsProcessingLayerPostProcessorInterface):
    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def postProcessLayer(self, layer, context, feedback) -> None:  # noqa: N802
        style_changes(layer, self.kind)


class CompareBuildings(_Base):
    def name(self) -> str:
        return "comparebuildings"

    def displayName(self) -> str:  # noqa: N802
        return "Compare with mapped buildings"

    def shortHelpString(self) -> str:  # noqa: N802
        return ("Compares buildings found (usually geoseg's) with a layer of buildings already mapped "
                "(OpenStreetMap, a cadastre, last year's run) and adds three layers: new (found, not mapped), "
                "missing (mapped, not found: demolished or missed, with the best overlap found) and matched "
                "(with their intersection over union). Only the area the found buildings were searched in "
                "counts (geoseg records it in its outputs). Optionally also writes the new buildings as "
                "GeoJSON for OpenStreetMap (EPSG:4326, building=yes), ready to review in JOSM.")

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self.addParameter(QgsProcessingParameterFeatureSource(
            "INPUT", "Buildings found", [QgsProcessing.TypeVectorPolygon]))
        self.addParameter(QgsProcessingParameterFeatureSource(
            "EXISTING", "Buildings already mapped", [QgsProcessing.TypeVectorPolygon]))
        self.addParameter(QgsProcessingParameterEnum("MATCH", "A match is", options=list(MATCHES), defaultValue=0))
        self.addParameter(QgsProcessingParameterNumber(
            "MIN_IOU", "Minimum intersection over union", QgsProcessingParameterNumber.Double, 0.5,
            minValue=0.01, maxValue=1.0))
        self.addParameter(QgsProcessingParameterFileDestination("OUTPUT", "Changes", "GeoPackage (*.gpkg)"))
        self.addParameter(QgsProcessingParameterFileDestination(
            "OSM", "New buildings for OpenStreetMap", "GeoJSON (*.geojson)", optional=True, createByDefault=False))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        output = self.parameterAsFileOutput(parameters, "OUTPUT", context)
        osm = self.parameterAsFileOutput(parameters, "OSM", context) or None
        with tempfile.TemporaryDirectory(prefix="geoseg-compare-") as scratch:
            try:
                found = vector_file(self.parameterAsVectorLayer(parameters, "INPUT", context), scratch, "found")
                existing = vector_file(self.parameterAsVectorLayer(parameters, "EXISTING", context), scratch, "existing")
            except LayerError as exc:
                raise QgsProcessingException(str(exc)) from None
            options = {"match": list(MATCHES.values())[self.parameterAsEnum(parameters, "MATCH", context)],
                       "min_iou": self.parameterAsDouble(parameters, "MIN_IOU", context), "osm": osm}
            run_cli(runner.compare_command(executable(), found, existing, output, options), feedback)
        for kind in ("new", "missing", "matched"):
            details = QgsProcessingContext.LayerDetails(f"{kind} buildings", context.project(), "OUTPUT")
            styler = _ChangesStyle(kind)
            _STYLERS.append(styler)
            details.setPostProcessor(styler)
            context.addLayerToLoadOnCompletion(f"{output}|layername={kind}", details)
        return {"OUTPUT": output, "OSM": osm}
