"""Run the roadkd command from a Processing algorithm, with Processing's errors, log and bar.

``process.run`` streams the output and stops roadkd on Cancel (SIGTERM, then SIGKILL);
this adds which roadkd to run (the algorithm's field, the provider setting or PATH), what
every algorithm says when roadkd cannot start or fails, and the progress bar: roadkd runs
with ``--progress json`` and its progress lines move the bar instead of filling the log.
"""

import shutil

from processing.core.ProcessingConfig import ProcessingConfig
from qgis.core import (
    QgsProcessingException,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterString,
)

from .process import Cancelled, run
from .progress import parse

#: Name of the provider setting (Settings > Options > Processing > Providers > roadkd).
SETTING = "ROADKD_EXECUTABLE"

#: Name of every algorithm's "roadkd command" field.
COMMAND = "ROADKD"


def roadkd_executable():
    """The roadkd command: the provider setting, else ``roadkd`` on QGIS's PATH."""
    configured = (ProcessingConfig.getSetting(SETTING) or "").strip()
    return configured or shutil.which("roadkd") or "roadkd"


def advanced(parameter):
    """``parameter``, shown under the dialog's *Advanced parameters*."""
    parameter.setFlags(parameter.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
    return parameter


def command_parameter():
    """The advanced "roadkd command" field every algorithm has."""
    parameter = QgsProcessingParameterString(
        COMMAND, "roadkd command (empty: the provider setting, else roadkd on PATH)",
        optional=True,
    )
    parameter.setHelp(
        "Full path of the roadkd executable, e.g. /path/to/venv/bin/roadkd. Left empty, "
        "the path set once in Settings > Options > Processing > Providers > roadkd is "
        "used, else roadkd found on QGIS's PATH."
    )
    return advanced(parameter)


def roadkd_command(algorithm, parameters, context):
    """The roadkd command of an algorithm's run: its field, else :func:`roadkd_executable`."""
    return algorithm.parameterAsString(parameters, COMMAND, context).strip() or roadkd_executable()


def show_progress(feedback, update):
    """Move the bar and change its text as a :class:`~.progress.Meter` said (None: keep)."""
    percent, text = update
    if percent is not None:
        feedback.setProgress(percent)
    if text is not None:
        feedback.setProgressText(text)


def run_roadkd(command, feedback, meter=None):
    """Run ``command``, its progress lines to ``meter`` and the bar, the others to the log.

    Args:
        command: the argument list (with ``--progress json`` when ``meter`` is given).
        feedback: the algorithm's feedback.
        meter: a :class:`~.progress.Meter` for the command's progress lines (None: every
            line goes to the log).

    Returns:
        The output lines that are not progress lines.

    Raises:
        QgsProcessingException: if the command cannot start, fails (with its ``Error:``
            line) or the user cancels.
    """
    feedback.pushInfo("Running: " + " ".join(command))
    logged = []

    def on_line(line):
        event = parse(line) if meter is not None else None
        if event is None:
            logged.append(line)
            feedback.pushInfo(line)
        else:
            show_progress(feedback, meter.update(event))

    try:
        status, _ = run(command, on_line, feedback.isCanceled)
    except OSError as err:
        raise QgsProcessingException(
            f"cannot run {command[0]}: {err}. Install roadkd, then give the full path of "
            "its roadkd executable in Settings > Options > Processing > Providers > roadkd "
            "(or in the algorithm's 'roadkd command' field)."
        ) from err
    except Cancelled:
        # roadkd got SIGTERM (SIGKILL after a grace period): existing files are untouched
        raise QgsProcessingException("cancelled")
    if status != 0:
        message = next(
            (x for x in reversed(logged) if x.startswith("Error")), logged[-1] if logged else ""
        )
        raise QgsProcessingException(f"roadkd failed: {message}")
    return logged
