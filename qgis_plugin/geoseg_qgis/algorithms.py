"""Processing algorithms: extract buildings from one raster, or from every raster of a folder.
Both run the geoseg command line, so they work in the toolbox, the model builder, batch mode
and qgis_process."""

from __future__ import annotations

from qgis.core import (
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
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

DEVICES = ["auto", "cpu", "cuda"]


def run_cli(args: list[str], feedback) -> None:
    """Run geoseg with Processing's progress and cancel; a failure becomes the CLI's one line."""
    feedback.pushCommandInfo(" ".join(args))
    try:
        code, error = runner.run(args, feedback.setProgress, feedback.isCanceled)
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
    def group(self) -> str:
        return "Buildings"

    def groupId(self) -> str:  # noqa: N802
        return "buildings"

    def createInstance(self):  # noqa: N802
        return type(self)()

    def _model_and_device(self) -> None:
        self.addParameter(QgsProcessingParameterString(
            "MODEL", "Model (name or weights file; empty: the shipped building model)", optional=True))
        self.addParameter(QgsProcessingParameterEnum("DEVICE", "Device", options=DEVICES, defaultValue=0))


class ExtractBuildings(_Base):
    def name(self) -> str:
        return "extractbuildings"

    def displayName(self) -> str:  # noqa: N802
        return "Extract buildings"

    def shortHelpString(self) -> str:  # noqa: N802
        return ("Finds the buildings in a georeferenced raster with geoseg's E-UNet model and writes one "
                "polygon per building (area_m2, perimeter_m, score) in the raster's CRS. Optionally also "
                "the building probability raster.")

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer("INPUT", "Raster layer"))
        self._model_and_device()
        self.addParameter(QgsProcessingParameterNumber(
            "THRESHOLD", "Building probability threshold", QgsProcessingParameterNumber.Double, 0.5,
            minValue=0.01, maxValue=0.99))
        self.addParameter(QgsProcessingParameterBoolean("REGULARIZE", "Straighten outlines", defaultValue=False))
        self.addParameter(QgsProcessingParameterBoolean("SEPARATE", "Split touching buildings", defaultValue=False))
        self.addParameter(QgsProcessingParameterBoolean(
            "NATIVE_PIXELS", "Keep the raster's own pixel size (default: resample to the model's)", defaultValue=False))
        output = QgsProcessingParameterVectorDestination(
            "OUTPUT", "Buildings", QgsProcessing.TypeVectorPolygon)
        output.setSupportsNonFileBasedOutput(False)
        self.addParameter(output)
        raster = QgsProcessingParameterRasterDestination(
            "PROBABILITY", "Building probability", optional=True, createByDefault=False)
        raster.setSupportsNonFileBasedOutput(False)
        self.addParameter(raster)

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        layer = self.parameterAsRasterLayer(parameters, "INPUT", context)
        if layer is None or layer.providerType() != "gdal":
            raise QgsProcessingException("the input must be a raster layer stored in a file")
        output = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        raster = self.parameterAsOutputLayer(parameters, "PROBABILITY", context) or None
        args = runner.predict_command(
            executable(), layer.source(), output, raster,
            self.parameterAsString(parameters, "MODEL", context) or None,
            self.parameterAsDouble(parameters, "THRESHOLD", context),
            DEVICES[self.parameterAsEnum(parameters, "DEVICE", context)],
            self.parameterAsBool(parameters, "REGULARIZE", context),
            self.parameterAsBool(parameters, "SEPARATE", context),
            self.parameterAsBool(parameters, "NATIVE_PIXELS", context),
        )
        run_cli(args, feedback)
        return {"OUTPUT": output, "PROBABILITY": raster}


class ExtractBuildingsBatch(_Base):
    def name(self) -> str:
        return "extractbuildingsbatch"

    def displayName(self) -> str:  # noqa: N802
        return "Extract buildings (batch over folder)"

    def shortHelpString(self) -> str:  # noqa: N802
        return ("Runs geoseg over every raster of a folder: one GeoPackage per input, skipping inputs already "
                "done with the same model, and optionally one merged layer with buildings across tile "
                "borders joined.")

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self.addParameter(QgsProcessingParameterFile("FOLDER", "Input folder", QgsProcessingParameterFile.Folder))
        self.addParameter(QgsProcessingParameterString("PATTERN", "File pattern", defaultValue="*.tif"))
        self.addParameter(QgsProcessingParameterBoolean("RECURSIVE", "Include subfolders", defaultValue=False))
        self._model_and_device()
        self.addParameter(QgsProcessingParameterFolderDestination("OUTPUT_FOLDER", "Output folder"))
        self.addParameter(QgsProcessingParameterFileDestination(
            "MERGED", "Merged buildings", "GeoPackage (*.gpkg)", optional=True, createByDefault=False))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        folder = self.parameterAsFile(parameters, "FOLDER", context)
        output_folder = self.parameterAsString(parameters, "OUTPUT_FOLDER", context)
        merged = self.parameterAsFileOutput(parameters, "MERGED", context) or None
        args = runner.batch_command(
            executable(), folder, output_folder, self.parameterAsString(parameters, "PATTERN", context),
            self.parameterAsBool(parameters, "RECURSIVE", context), merged,
            self.parameterAsString(parameters, "MODEL", context) or None,
            DEVICES[self.parameterAsEnum(parameters, "DEVICE", context)],
        )
        run_cli(args, feedback)
        return {"OUTPUT_FOLDER": output_folder, "MERGED": merged}
