"""The "Train a road model" algorithm: ``roadkd train`` of the teachers, then the student.

Both trainings write into a working folder beside the chosen model file; the student's
best checkpoint is moved onto that file at the end, and the folder is removed whatever
happens (success, failure or Cancel), so an unfinished training leaves nothing behind.
"""

import os
import shutil
import tempfile

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
)

from .progress import Meter
from .run import advanced, command_parameter, roadkd_command, run_roadkd, show_progress

#: The plugin's default configs: roadkd's demo configs (CPU, minutes).
CONFIGS = os.path.join(os.path.dirname(__file__), "configs")
#: The part of the bar each stage fills: the teachers are two networks, the student one.
TEACHERS_END = 60
#: Accelerator choices, as shown and as Lightning names them (None: the config's).
ACCELERATORS = [("As in the config", None), ("CPU", "cpu"), ("GPU", "gpu")]


def move_into_place(source, target):
    """Move ``source`` onto ``target``, also across file systems, never half-written."""
    partial = f"{target}.partial"
    try:
        shutil.move(source, partial)
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


class TrainRoadModel(QgsProcessingAlgorithm):
    """Train SSLKD teachers, then the student, on a roadkd training data folder."""

    DATA, EPOCHS, PATCHES, ACCELERATOR = "DATA", "EPOCHS", "PATCHES", "ACCELERATOR"
    TEACHERS_CONFIG, STUDENT_CONFIG = "TEACHERS_CONFIG", "STUDENT_CONFIG"
    OUTPUT, TEACHERS = "OUTPUT", "TEACHERS"

    def name(self):
        return "trainroadmodel"

    def displayName(self):  # noqa: N802 (QGIS's name)
        return "Train a road model"

    def shortHelpString(self):  # noqa: N802
        return (
            "Trains a road model on a folder made by 'Make training data from a road "
            "layer': first two teacher networks that also learn from each other on the "
            "unlabelled imagery, then the small student model that 'Detect roads' runs, "
            "distilled from them (SSLKD). By default roadkd's demo configuration (minutes "
            "on a laptop CPU); more epochs and patches per epoch train longer and better, "
            "and advanced parameters take your own roadkd training configs. The bar "
            "follows the training steps; Cancel stops roadkd and leaves no file behind. "
            "Every block of the folder keeps its labels (labelled ratio 1): the unlabelled "
            "imagery is what lies outside the labelled area."
        )

    def createInstance(self):  # noqa: N802
        return TrainRoadModel()

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(
            QgsProcessingParameterFile(
                self.DATA, "Training data folder", QgsProcessingParameterFile.Folder
            )
        )
        for name, title in (
            (self.EPOCHS, "Epochs per stage (empty: the config's)"),
            (self.PATCHES, "Labelled patches per epoch (empty: the config's)"),
        ):
            self.addParameter(
                QgsProcessingParameterNumber(name, title, minValue=1, optional=True)
            )
        advanced_parameters = [
            QgsProcessingParameterEnum(
                self.ACCELERATOR, "Train on", [title for title, _ in ACCELERATORS],
                defaultValue=0,
            ),
            QgsProcessingParameterFile(
                self.TEACHERS_CONFIG, "Teachers config (YAML; empty: roadkd's demo config)",
                extension="yaml", optional=True,
            ),
            QgsProcessingParameterFile(
                self.STUDENT_CONFIG, "Student config (YAML; empty: roadkd's demo config)",
                extension="yaml", optional=True,
            ),
        ]
        for parameter in advanced_parameters:
            self.addParameter(advanced(parameter))
        self.addParameter(command_parameter())
        self.addParameter(
            QgsProcessingParameterFileDestination(
                self.OUTPUT, "Road model (student)", "roadkd checkpoint (*.ckpt)"
            )
        )
        self.addParameter(
            QgsProcessingParameterFileDestination(
                self.TEACHERS, "Teachers", "roadkd checkpoint (*.ckpt)", optional=True,
                createByDefault=False,
            )
        )

    def _overrides(self, parameters, context):
        """LightningCLI arguments both stages share."""
        data = self.parameterAsFile(parameters, self.DATA, context)
        if not os.path.isfile(os.path.join(data, "splits.json")):
            raise QgsProcessingException(
                f"{data} is not a roadkd training data folder (no splits.json): make one "
                "with 'Make training data from a road layer'"
            )
        arguments = ["--data.init_args.root", data, "--data.init_args.labeled_ratio", "1"]
        if parameters.get(self.EPOCHS) not in (None, ""):
            epochs = self.parameterAsInt(parameters, self.EPOCHS, context)
            arguments += ["--trainer.max_epochs", str(epochs)]
        if parameters.get(self.PATCHES) not in (None, ""):
            patches = self.parameterAsInt(parameters, self.PATCHES, context)
            arguments += ["--data.init_args.length", str(patches)]
        accelerator = ACCELERATORS[self.parameterAsEnum(parameters, self.ACCELERATOR, context)][1]
        if accelerator:
            arguments += ["--trainer.accelerator", accelerator]
        return arguments

    def _config(self, parameters, name, context, default):
        return self.parameterAsFile(parameters, name, context) or os.path.join(CONFIGS, default)

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        output = self.parameterAsFileOutput(parameters, self.OUTPUT, context)
        teachers_output = self.parameterAsFileOutput(parameters, self.TEACHERS, context)
        shared = self._overrides(parameters, context)
        roadkd = roadkd_command(self, parameters, context)
        folder = os.path.dirname(os.path.abspath(output))
        os.makedirs(folder, exist_ok=True)
        # beside the output, so that the model is moved into place, never half-copied
        work = tempfile.mkdtemp(prefix=".roadkd-train-", dir=folder)
        try:
            stages = (
                ("teachers", self.TEACHERS_CONFIG, "teachers.yaml", 0, TEACHERS_END, []),
                ("student", self.STUDENT_CONFIG, "student.yaml", TEACHERS_END, 100, None),
            )
            best = {}
            for stage, config_name, default, start, end, extra in stages:
                if extra is None:  # the student learns from the teachers just trained
                    extra = ["--model.init_args.teachers_checkpoint", best["teachers"]]
                command = [
                    roadkd, "train", "fit",
                    "--config", self._config(parameters, config_name, context, default),
                    *shared, *extra,
                    "--trainer.default_root_dir", os.path.join(work, stage),
                    "--progress", "json",
                ]
                meter = Meter([("train", 1)], start, end, {"train": f"Training the {stage}"})
                run_roadkd(command, feedback, meter)
                best[stage] = os.path.join(work, stage, "checkpoints", "best.ckpt")
                if not os.path.isfile(best[stage]):
                    raise QgsProcessingException(
                        f"the {stage} training wrote no best checkpoint (no validation "
                        "blocks in the training data?)"
                    )
                show_progress(feedback, meter.finish(f"{stage.capitalize()} trained"))
            move_into_place(best["student"], output)
            if teachers_output:
                move_into_place(best["teachers"], teachers_output)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        results = {self.OUTPUT: output}
        if teachers_output:
            results[self.TEACHERS] = teachers_output
        return results
