"""The layout of one training run's folder inside an experiment's results."""

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunDir:
    """Where one (method, labelled ratio, seed) run keeps its files.

    ``<out>/runs/<method>_r<ratio>_s<seed>/`` holds Lightning's ``checkpoints/`` and logs, plus
    what the runner adds: ``train.log`` (the training's output), ``train.json`` (written
    once training finished), ``result.json`` (the scored row) and, for teachers runs,
    ``pseudo_labels.json``.

    Attributes:
        out: the experiment's results folder.
        method: the method's key (``sslkd``, ``teachers``, ...).
        ratio: the labelled ratio.
        seed: the training seed.
    """

    out: Path
    method: str
    ratio: float
    seed: int

    @property
    def path(self) -> Path:
        """The run folder (Lightning's ``default_root_dir``)."""
        return Path(self.out) / "runs" / f"{self.method}_r{self.ratio:g}_s{self.seed}"

    @property
    def best(self) -> Path:
        """The best checkpoint by validation road IoU."""
        return self.path / "checkpoints" / "best.ckpt"

    @property
    def last(self) -> Path:
        """The latest checkpoint, from which an interrupted training continues.

        The newer of the one saved at the last validation and the one saved every few
        minutes of training (``checkpoints/resume/``).
        """
        saved = [self.path / "checkpoints" / "last.ckpt"]
        saved.append(self.path / "checkpoints" / "resume" / "last.ckpt")
        existing = [path for path in saved if path.is_file()]
        return max(existing, key=lambda path: path.stat().st_mtime) if existing else saved[0]

    @property
    def log(self) -> Path:
        """Everything the training printed, appended run after run."""
        return self.path / "train.log"

    @property
    def trained(self) -> Path:
        """The record of a finished training (command and seconds)."""
        return self.path / "train.json"

    @property
    def result(self) -> Path:
        """The scored table row."""
        return self.path / "result.json"

    @property
    def pseudo_labels(self) -> Path:
        """The cached pseudo-label quality of a teachers run."""
        return self.path / "pseudo_labels.json"

    @property
    def kept(self) -> tuple[Path, ...]:
        """The small files an experiment's ``record`` keeps of a finished run."""
        return (self.trained, self.result, self.pseudo_labels)

    @property
    def is_trained(self) -> bool:
        """Training finished and left its best checkpoint."""
        return self.trained.is_file() and self.best.is_file()
