"""The record of an experiment's runs: what a run keeps under version control, and lineage.

A run's small files (``train.json``, ``result.json``, ``pseudo_labels.json``) are copied
into the experiment's ``record`` as they are written, so that a fresh clone continues the
experiment from them; checkpoints stay in ``out``. Each ``train.json`` holds a fingerprint
of its checkpoint and, for a distilled student, of the teachers it learnt from, so that
teachers trained again (another machine, other weights) void what belonged to the old.
"""

import hashlib
import json
import shutil
from pathlib import Path

from ..io import atomic_output
from .config import METHODS, Experiment
from .rundir import RunDir


def run_dir(experiment: Experiment, method: str, ratio: float, seed: int) -> RunDir:
    """The folder of one (method, ratio, seed) run of ``experiment``."""
    return RunDir(Path(experiment.out), method, ratio, seed)


def _kept(experiment: Experiment, run: RunDir, path: Path) -> Path | None:
    """Where the experiment's ``record`` keeps one of a run's files (None: no record)."""
    if experiment.record is None:
        return None
    return Path(experiment.record) / run.path.name / path.name


def restore_record(experiment: Experiment, run: RunDir) -> None:
    """Bring back the run's files that the experiment's ``record`` keeps and ``out`` lost."""
    for path in run.kept:
        if (kept := _kept(experiment, run, path)) is not None and not path.is_file():
            _copy(kept, path)


def keep_record(experiment: Experiment, run: RunDir) -> None:
    """Copy the run's finished small files into the experiment's ``record``."""
    for path in run.kept:
        if (kept := _kept(experiment, run, path)) is not None:
            _copy(path, kept)


def _unrecord(experiment: Experiment, run: RunDir, paths: tuple[Path, ...]) -> None:
    """Remove some of a run's files from the experiment's ``record``."""
    for path in paths:
        if (kept := _kept(experiment, run, path)) is not None:
            kept.unlink(missing_ok=True)


def forget_scores(experiment: Experiment, run: RunDir) -> None:
    """Remove a run's scores (here and in the record): they belong to weights now replaced."""
    scores = (run.result, run.pseudo_labels)
    for path in scores:
        path.unlink(missing_ok=True)
    _unrecord(experiment, run, scores)


def fingerprint(checkpoint: Path) -> str:
    """The first 16 hex digits of a checkpoint file's SHA-256: which weights a run holds."""
    digest = hashlib.sha256()
    with checkpoint.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def taught_by_other_teachers(experiment: Experiment, run: RunDir) -> str | None:
    """Why a distilled run no longer belongs with its teachers' row, or None if it does.

    A distilled run records the fingerprint of the teachers it learnt from; the teachers
    run records its own. They differ when the teachers were trained again (their checkpoint
    lost with a machine, and the same seed gives other weights on another): the teachers'
    row and pseudo-label quality then describe teachers this student never saw. Unknown
    (runs recorded before fingerprints) counts as belonging.
    """
    needs = METHODS[run.method].needs
    if needs is None or not run.trained.is_file():
        return None
    teachers = run_dir(experiment, needs, run.ratio, run.seed)
    restore_record(experiment, teachers)
    if not teachers.trained.is_file():
        return None
    learnt = json.loads(run.trained.read_text()).get("teachers")
    now = json.loads(teachers.trained.read_text()).get("checkpoint")
    if learnt is None or now is None or learnt == now:
        return None
    return f"it learnt from teachers {learnt}, and {teachers.path.name} now holds {now}"


def discard_run(experiment: Experiment, run: RunDir) -> None:
    """Remove a run roadkd trained, here and in the record, so that it trains again."""
    shutil.rmtree(run.path, ignore_errors=True)
    _unrecord(experiment, run, run.kept)


def _copy(source: Path, target: Path) -> None:
    """Copy a file that exists and differs from its target (staged, then renamed)."""
    if not source.is_file() or (target.is_file() and target.read_bytes() == source.read_bytes()):
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(target) as tmp:
        shutil.copyfile(source, tmp)
