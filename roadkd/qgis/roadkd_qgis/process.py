"""Run the roadkd command for a Processing algorithm: stream its output, honour Cancel.

No QGIS import here, so that the behaviour can be tested without QGIS. Cancel asks
roadkd to stop with SIGTERM first: roadkd then removes its staged outputs and scratch
folders and leaves the user's files as they were. Only a roadkd that has not stopped after
a grace period is killed (SIGKILL); roadkd runs in a process group of its own, so that the
worker processes it started go with it, and the scratch folders of a killed roadkd are
removed here. Its staged outputs (hidden ``.roadkd-partial-<pid>-*`` entries beside the
outputs, which may hold the files being replaced) are left to roadkd's own sweep, which
the next roadkd run writing to that folder does, putting back what was set aside.
"""

import contextlib
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading

#: Seconds roadkd gets to clean up after SIGTERM before it is killed.
GRACE_SECONDS = 10.0

#: Start of the names of roadkd's scratch folders in the temp folder, followed by the id of
#: the process that made them (roadkd.staging.SCRATCH_PREFIX; the plugin does not import
#: roadkd).
SCRATCH_PREFIX = "roadkd-pid"


class Cancelled(Exception):
    """The user pressed Cancel; the roadkd process has been stopped."""


def remove_scratch_of(pid, folder=None):
    """Remove the scratch folders of the roadkd process ``pid`` (it must be gone).

    Args:
        pid: the process id of a roadkd that was killed.
        folder: where roadkd makes them (None: the temp folder, which roadkd shares with
            QGIS through TMPDIR).

    Returns:
        The names removed.
    """
    folder = folder or tempfile.gettempdir()
    mine = f"{SCRATCH_PREFIX}{pid}-"
    removed = []
    with contextlib.suppress(OSError):
        for name in os.listdir(folder):
            if name.startswith(mine):
                shutil.rmtree(os.path.join(folder, name), ignore_errors=True)
                removed.append(name)
    return removed


def _kill_group(process):
    """SIGKILL what is left of the process group of ``process`` (it leads its own)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def stop(process, grace=GRACE_SECONDS):
    """Stop a process started by :func:`start`: SIGTERM, then SIGKILL after ``grace``.

    SIGTERM goes to roadkd alone (it stops its workers as it cleans up); whatever is still
    running in its process group afterwards (the whole group, if roadkd did not stop in
    time) is killed, and a killed roadkd's scratch folders are removed.

    Returns:
        Whether roadkd had to be killed.
    """
    killed = False
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            killed = True
    _kill_group(process)
    if killed:
        process.wait()
        remove_scratch_of(process.pid)
    return killed


def start(command):
    """Start ``command`` in a process group of its own, stdout and stderr merged as text.

    Raises:
        OSError: if the command cannot be started.
    """
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


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
    process = start(command)
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
        pumping.join(timeout=grace)  # nothing of the group is left to hold the pipe open
        if not pumping.is_alive():
            process.stdout.close()
