"""Run the roadkd command for a Processing algorithm: stream its output, honour Cancel.

No QGIS import here, so that the behaviour can be tested without QGIS. Cancel asks
roadkd to stop with SIGTERM first: roadkd then removes its staged outputs and scratch
folders and leaves the user's files as they were. Only a process that has not stopped
after a grace period is killed (SIGKILL); its staged leftovers are removed by the next
roadkd run that writes to the same folder.
"""

import queue
import subprocess
import threading

#: Seconds roadkd gets to clean up after SIGTERM before it is killed.
GRACE_SECONDS = 10.0


class Cancelled(Exception):
    """The user pressed Cancel; the roadkd process has been stopped."""


def stop(process, grace=GRACE_SECONDS):
    """Stop a process: SIGTERM, then SIGKILL only if it is still running after ``grace``."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def run(command, on_line, is_cancelled, grace=GRACE_SECONDS, poll_seconds=0.2):
    """Run ``command``, pass each output line to ``on_line``, stop it on Cancel.

    Cancel is checked every ``poll_seconds`` even while roadkd prints nothing.

    Args:
        command: the argument list.
        on_line: called with each line of stdout and stderr (merged), without the newline.
        is_cancelled: returns True once the user has cancelled.
        grace: seconds between SIGTERM and SIGKILL.
        poll_seconds: how often Cancel is checked.

    Returns:
        (exit status, output lines).

    Raises:
        OSError: if the command cannot be started.
        Cancelled: if the user cancelled (the process has been stopped).
    """
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines = queue.Queue()
    done = object()

    def pump():
        for line in process.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(done)

    pumping = threading.Thread(target=pump, daemon=True)
    pumping.start()
    output = []
    try:
        while True:
            if is_cancelled():
                stop(process, grace)
                raise Cancelled()
            try:
                line = lines.get(timeout=poll_seconds)
            except queue.Empty:
                continue
            if line is done:
                break
            output.append(line)
            on_line(line)
        return process.wait(), output
    finally:
        stop(process, grace)  # a callback that raised must not leave roadkd running
        # a worker process roadkd left behind may hold the pipe open: do not wait for it
        pumping.join(timeout=grace)
        if not pumping.is_alive():
            process.stdout.close()
