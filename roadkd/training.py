"""`roadkd train`: TorchGeo-style LightningCLI with roadkd's run-folder conventions.

Every run writes into one folder, ``--trainer.default_root_dir`` (``runs/<name>`` in the
shipped configs): ``checkpoints/`` (``best.ckpt`` by ``val/road_iou``, ``last.ckpt``),
``csv/`` (CSVLogger) and ``tensorboard/`` (TensorBoardLogger), plus the resolved config.
``checkpoints/resume/last.ckpt`` is rewritten every ten minutes of training, so a run stopped
between validations (a killed job, a closed session) loses at most those minutes.
Without a subcommand, ``roadkd train --config x.yaml`` means ``fit``.
"""

import contextlib
import importlib
import math
import os
import sys
import warnings
from contextlib import AbstractContextManager
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import Callback, LightningDataModule, LightningModule, Trainer
from lightning.pytorch.cli import ArgsType, LightningArgumentParser, LightningCLI

from . import __version__
from .errors import RoadkdError
from .progress import Counter, Progress
from .tasks import RoadTask

SUBCOMMANDS = ("fit", "validate", "test", "predict")

#: How often a training saves the checkpoint it can be resumed from between validations.
RESUME_EVERY = timedelta(minutes=10)

#: Environment variable fixing torch's CPU thread count for a training (the experiment
#: runner sets it for every run): a reduction split over another number of threads sums
#: in another order, so the same seed only gives the same weights at the same count.
THREADS_ENV = "ROADKD_NUM_THREADS"

#: Taken, as TorchGeo does, from https://github.com/pangeo-data/cog-best-practices
RASTERIO_BEST_PRACTICES = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "AWS_NO_SIGN_REQUEST": "YES",
    "GDAL_MAX_RAW_BLOCK_CACHE_SIZE": "200000000",
    "GDAL_SWATH_SIZE": "200000000",
    "VSI_CURL_CACHE_SIZE": "200000000",
}


class RoadkdCLI(LightningCLI):
    """LightningCLI that files checkpoints and logs under the run folder."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        """Default the trainer's root dir to ``runs/default``."""
        parser.set_defaults({"trainer.default_root_dir": "runs/default"})

    def _parse_ckpt_path(self) -> None:
        """Check ``--ckpt_path`` (from the command line or a config) before Lightning reads it.

        LightningCLI loads the checkpoint's hyperparameters while it parses; a missing,
        empty, truncated or foreign file would end there in a traceback.
        """
        subcommand = self.config.get("subcommand")
        if subcommand:
            check_checkpoint(self.config[subcommand].get("ckpt_path"))
        super()._parse_ckpt_path()

    def before_instantiate_classes(self) -> None:
        """Add CSV + TensorBoard loggers, a best/last checkpoint callback and a timer if absent."""
        config = self.config.get(self.subcommand) if self.subcommand else self.config
        if config is None:
            return
        trainer = config["trainer"]
        root = str(trainer["default_root_dir"])
        if trainer.get("logger") in (None, True):
            trainer["logger"] = [
                _class("lightning.pytorch.loggers.CSVLogger", save_dir=root, name="csv"),
                _class(
                    "lightning.pytorch.loggers.TensorBoardLogger", save_dir=root, name="tensorboard"
                ),
            ]
        callbacks = list(trainer.get("callbacks") or [])
        if not any("ModelCheckpoint" in str(_class_path(c)) for c in callbacks):
            callbacks.append(
                _class(
                    "lightning.pytorch.callbacks.ModelCheckpoint",
                    dirpath=os.path.join(root, "checkpoints"),
                    filename="best",
                    monitor=RoadTask.monitor,
                    mode=RoadTask.mode,
                    save_last=True,
                )
            )
            # A folder of its own: two ModelCheckpoints writing one last.ckpt would version
            # each other's files (last-v1.ckpt) instead of replacing them.
            callbacks.append(
                _class(
                    "lightning.pytorch.callbacks.ModelCheckpoint",
                    dirpath=os.path.join(root, "checkpoints", "resume"),
                    save_top_k=0,
                    save_last=True,
                    train_time_interval=RESUME_EVERY,
                )
            )
        if not any(str(_class_path(c)).endswith("Timer") for c in callbacks):
            # its elapsed time is saved in every checkpoint, so a resumed run's training
            # time adds up across interruptions (the experiment runner reports it)
            callbacks.append(_class("lightning.pytorch.callbacks.Timer"))
        trainer["callbacks"] = callbacks

    def after_fit(self) -> None:
        """Print where the best checkpoint is and its validation road IoU."""
        callback = self.trainer.checkpoint_callback
        if callback is None or self.trainer.global_rank != 0:
            return
        best = getattr(callback, "best_model_path", "")
        score = getattr(callback, "best_model_score", None)
        if best and score is not None:
            print(f"best {RoadTask.monitor} = {float(score):.4f}  checkpoint: {best}")


#: ``--ckpt_path`` values Lightning resolves itself rather than as a file name.
CHECKPOINT_KEYWORDS = ("last", "best", "hpc", "registry")


def check_checkpoint(path: Any) -> None:
    """Check a ``--ckpt_path`` before any training work: an existing, whole checkpoint.

    Args:
        path: the value given (None: train from scratch; Lightning's keywords pass).

    Raises:
        RoadkdError: if the file is missing, empty, truncated, not a PyTorch file, or a
            PyTorch file that is not a Lightning checkpoint.
    """
    if path is None or (str(path) in CHECKPOINT_KEYWORDS and not os.path.exists(path)):
        return
    checkpoint = Path(str(path))
    if not checkpoint.is_file():
        raise RoadkdError(f"--ckpt_path {checkpoint}: no such file")
    if checkpoint.stat().st_size == 0:
        raise RoadkdError(f"--ckpt_path {checkpoint}: the file is empty")
    from .models.checkpoint import read_checkpoint

    # The restricted reader: a resume file from elsewhere cannot run code here either.
    content = read_checkpoint(checkpoint, "--ckpt_path")
    if "state_dict" not in content:
        raise RoadkdError(
            f"--ckpt_path {checkpoint}: a PyTorch file but not a Lightning checkpoint "
            "(no state_dict); give a checkpoint written by roadkd train"
        )


def _class(class_path: str, **init_args: Any) -> dict[str, Any]:
    return {"class_path": class_path, "init_args": init_args}


def _class_path(item: Any) -> str:
    if isinstance(item, dict) or hasattr(item, "get"):
        return str(item.get("class_path", ""))
    return type(item).__name__


def with_default_subcommand(args: list[str]) -> list[str]:
    """Insert ``fit`` when no subcommand is given (``roadkd train --config x.yaml``).

    Args:
        args: command-line arguments after ``roadkd train``.

    Returns:
        The arguments, with ``fit`` prepended unless a subcommand or help is asked for.
    """
    if any(a in SUBCOMMANDS for a in args) or any(a in ("-h", "--help") for a in args):
        return args
    if not args:
        return args
    return ["fit", *args]


class StepProgress(Callback):
    """Counts training batches on a progress report (:mod:`roadkd.progress`).

    The total is Lightning's estimate of the run's batches (epochs x batches per epoch, or
    ``max_steps``); a run stopped early closes its counter at the count it reached.
    """

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self._counter: AbstractContextManager[Counter] | None = None
        self._count: Counter | None = None

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Open the counter."""
        total = trainer.estimated_stepping_batches
        known = int(total) if math.isfinite(total) else None
        self._counter = self.progress.counter("train", known, "step")
        self._count = self._counter.__enter__()

    def on_train_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        """Count one batch."""
        if self._count is not None:
            self._count.update()

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Close the counter."""
        if self._counter is not None:
            self._counter.__exit__(None, None, None)
            self._counter = self._count = None


def main(args: ArgsType = None, progress: Progress | None = None) -> None:
    """Run LightningCLI over roadkd's tasks and datamodules.

    Args:
        args: arguments as on the command line (None: ``sys.argv[1:]``).
        progress: count training steps on this report (:class:`StepProgress`) instead
            of Lightning's progress bar (None: Lightning's bar).
    """
    os.environ.update(RASTERIO_BEST_PRACTICES)
    set_thread_count()
    # Import so that configs can name classes by their short name.
    for module in ("roadkd.tasks", "roadkd.datamodules"):
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    # roadkd train passes its own argv on purpose; Lightning warns about that otherwise.
    warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
    if isinstance(args, list | tuple):
        args = with_default_subcommand([str(a) for a in args])
    try:
        RoadkdCLI(
            model_class=RoadTask,
            datamodule_class=LightningDataModule,
            seed_everything_default=0,
            parser_kwargs={"version": __version__},
            subclass_mode_model=True,
            subclass_mode_data=True,
            save_config_kwargs={"overwrite": True},
            trainer_defaults=(
                {"callbacks": [StepProgress(progress)], "enable_progress_bar": False}
                if progress is not None
                else {}
            ),
            args=args,
        )
    except Exception as err:
        # jsonargparse wraps errors raised while building classes; surface the user's one.
        cause = find_roadkd_error(err)
        if cause is None:
            raise
        raise cause from None


def set_thread_count() -> int:
    """Use the thread count of ``ROADKD_NUM_THREADS`` when it is set.

    Returns:
        The number of threads torch uses now.

    Raises:
        RoadkdError: if the variable is set but not a positive integer.
    """
    value = os.environ.get(THREADS_ENV, "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            raise RoadkdError(f"{THREADS_ENV} must be a positive integer, not {value!r}")
        torch.set_num_threads(int(value))
    return torch.get_num_threads()


def find_roadkd_error(err: BaseException) -> RoadkdError | None:
    """Return the first :class:`RoadkdError` in an exception's cause/context chain.

    Args:
        err: the exception raised.

    Returns:
        The user error behind it, or None if it is a bug rather than a user error.
    """
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        if isinstance(current, RoadkdError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


if __name__ == "__main__":
    # ``python -m roadkd.training fit --config x.yaml``: what ``roadkd train`` runs, without
    # the CLI package (the experiment runner launches its trainings this way).
    try:
        main(sys.argv[1:])
    except RoadkdError as error:
        print(f"Error: {error}", file=sys.stderr)
        sys.exit(1)
