"""Run the roadkd command from a Processing algorithm, with Processing's errors and log.

``process.run`` streams the output and stops roadkd on Cancel (SIGTERM, then SIGKILL);
this adds what every algorithm says to the user when roadkd cannot start or fails.
"""

from qgis.core import QgsProcessingException

from .process import Cancelled, run


def run_roadkd(command, feedback):
    """Run ``command``, pushing each output line to the Processing log.

    Returns:
        The output lines.

    Raises:
        QgsProcessingException: if the command cannot start, fails (with its ``Error:``
            line) or the user cancels.
    """
    feedback.pushInfo("Running: " + " ".join(command))
    try:
        status, lines = run(command, feedback.pushInfo, feedback.isCanceled)
    except OSError as err:
        raise QgsProcessingException(
            f"cannot run {command[0]}: {err}. Install roadkd or set its path "
            "in the algorithm's 'roadkd command' parameter."
        ) from err
    except Cancelled:
        # roadkd got SIGTERM (SIGKILL after a grace period): existing files are untouched
        raise QgsProcessingException("cancelled")
    if status != 0:
        message = next((x for x in reversed(lines) if x.startswith("Error")), lines[-1] if lines else "")
        raise QgsProcessingException(f"roadkd failed: {message}")
    return lines
