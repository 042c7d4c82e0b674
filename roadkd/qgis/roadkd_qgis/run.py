"""Run the roadkd command from a Processing algorithm: log its output, stop it on cancel."""

import subprocess

from qgis.core import QgsProcessingException


def run_roadkd(command, feedback):
    """Run ``command``, pushing each output line to the Processing log.

    Returns:
        The output lines.

    Raises:
        QgsProcessingException: if the command cannot start, fails (with its ``Error:``
            line) or the user cancels (the process is terminated, then killed).
    """
    feedback.pushInfo("Running: " + " ".join(command))
    try:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except OSError as err:
        raise QgsProcessingException(
            f"cannot run {command[0]}: {err}. Install roadkd or set its path "
            "in the algorithm's 'roadkd command' parameter."
        ) from err
    lines = []
    for line in process.stdout:
        lines.append(line.rstrip())
        feedback.pushInfo(line.rstrip())
        if feedback.isCanceled():
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
            raise QgsProcessingException("cancelled")
    if process.wait() != 0:
        message = next((x for x in reversed(lines) if x.startswith("Error")), lines[-1] if lines else "")
        raise QgsProcessingException(f"roadkd failed: {message}")
    return lines
