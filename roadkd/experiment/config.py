"""What an experiment is: its methods, ratios, configs and command (``experiment.yaml``)."""

import shlex
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import yaml

from ..errors import RoadkdError


@dataclass(frozen=True)
class Method:
    """One row family of the table.

    Attributes:
        label: name in the table, plot and figure.
        needs: the teachers run a distilled student learns from (None: trains alone).
        compared_with: the method whose road IoU at the same ratio the table subtracts
            (an ablation is compared with what it ablates).
    """

    label: str
    needs: str | None = None
    compared_with: str = "supervised"


#: Every method the runner knows; ``configs/<bench>/<key>.yaml`` trains it.
METHODS: dict[str, Method] = {
    "supervised": Method("Supervised student"),
    "mean_teacher": Method("Mean Teacher"),
    "cps": Method("CPS"),
    "kd": Method("KD (labels-only teachers)", needs="teachers_labeled_only"),
    "sslkd": Method("SSLKD student", needs="teachers"),
    # Ablations: the SSLKD student with one loss term's weight set to 0.
    "sslkd_without_feature": Method(
        "SSLKD without L_dis^f", needs="teachers", compared_with="sslkd"
    ),
    "sslkd_without_prob": Method("SSLKD without L_dis^p", needs="teachers", compared_with="sslkd"),
    "sslkd_without_unsup": Method("SSLKD without L_unsup", needs="teachers", compared_with="sslkd"),
    # SSLKD's teachers are compared with the same teachers trained on labels only: does
    # cross supervision on unlabelled imagery make them better teachers?
    "teachers": Method("SSLKD teacher A (reference)", compared_with="teachers_labeled_only"),
    "teachers_labeled_only": Method("Labels-only teacher A (reference)"),
    # The trivial maps head every table: nothing is trained, nothing compared.
    "all_road": Method("All road (trivial)", compared_with="all_road"),
    "all_background": Method("All background (trivial)", compared_with="all_background"),
}


#: The trivial maps every table and plot carries (:func:`~.report.trivial_rows`).
TRIVIAL_MAPS = ("all_road", "all_background")


@dataclass
class Experiment:
    """An experiment's settings (``configs/bench/experiment.yaml``).

    Attributes:
        name: the benchmark's name.
        data: dataset folder in roadkd's layout.
        synth: settings of :func:`write_synthetic_dataset` to create ``data`` when it is
            missing (an existing folder must have been made with them); None (the
            default) for a dataset that must already exist, real or synthetic.
        configs: folder with one training config per method.
        ratios: labelled ratios, each in (0, 1].
        seeds: training seeds; every (method, ratio) runs once per seed (see
            ``seeds_at``). A seed sets both
            ``seed_everything`` (initialisation, augmentations) and the datamodule's
            ``split_seed`` (which blocks carry labels, patch positions), so the spread over
            seeds includes the choice of labelled blocks.
        methods: the compared methods.
        references: rows shown as upper references (dashed in the plot).
        method_ratios: methods that run only at some of the ratios (e.g. ablations at
            1/8); every other method runs at every ratio.
        seeds_at: ratios that run only some of the seeds (e.g. three at ratio 1 where the
            spread is small, five at 1/8).
        encoder_weights: encoder name -> a local weights file (a ``.pth`` state dict of the
            smp encoder) that every network with that encoder starts from, whatever its
            config names: a GPU machine may be offline (see README, "Paper scale").
        tile: side of the tiles every model is scored with (and the teachers' pseudo
            labels measured with), whatever patch it trained on; None: each model's own.
        overrides: LightningCLI overrides passed to every training run.
        threads: torch CPU threads of every training run (``ROADKD_NUM_THREADS``): fixed,
            so that the same seed gives the same weights whatever the machine's default.
        out: results folder.
        record: a folder kept under version control (e.g. ``docs/results/runs``) that
            keeps each finished run's small files (scores, training time, pseudo-label
            quality) as soon as they are written, and gives them back to a results folder
            that lost them: a fresh clone, or another machine, continues the experiment
            without training its finished runs again. None: ``out`` only.
        source: the experiment file (set by :meth:`from_yaml`).
        options: command-line arguments that replaced the file's settings, as typed.
    """

    name: str = "bench"
    data: str = "bench/data"
    synth: dict[str, Any] | None = None
    configs: str = "configs/bench"
    ratios: list[float] = field(default_factory=lambda: [0.125, 0.25, 0.5, 1.0])
    seeds: list[int] = field(default_factory=lambda: [0])
    methods: list[str] = field(
        default_factory=lambda: ["supervised", "mean_teacher", "cps", "kd", "sslkd"]
    )
    references: list[str] = field(default_factory=lambda: ["teachers"])
    method_ratios: dict[str, list[float]] = field(default_factory=dict)
    seeds_at: dict[float, list[int]] = field(default_factory=dict)
    encoder_weights: dict[str, str] = field(default_factory=dict)
    tile: int | None = None
    overrides: list[str] = field(default_factory=list)
    threads: int = 2
    out: str = "results/bench"
    record: str | None = None
    source: str = ""
    options: list[str] = field(default_factory=list)

    @classmethod
    def from_yaml(
        cls,
        path: str | Path,
        overrides: list[str] | None = None,
        ratios: list[float] | None = None,
        out: str | Path | None = None,
        methods: list[str] | None = None,
        seeds: list[int] | None = None,
    ) -> "Experiment":
        """Read an experiment file.

        Args:
            path: the YAML file.
            overrides: LightningCLI overrides passed to every training run.
            ratios: run only these labelled ratios instead of the file's.
            out: results folder instead of the file's (e.g. for a second seed).
            methods: compare only these methods instead of the file's (the file's
                references too: they run only if named here).
            seeds: run only these seeds instead of the file's.

        Raises:
            RoadkdError: if the file is missing, has unknown keys, names an unknown method,
                a ratio outside (0, 1], no seed, or a method without a config file.
        """
        p = Path(path)
        if not p.is_file():
            raise RoadkdError(f"experiment config not found: {p}")
        values = yaml.safe_load(p.read_text()) or {}
        unknown = set(values) - set(cls.__dataclass_fields__) | (
            {"source", "options"} & set(values)
        )
        if unknown:
            raise RoadkdError(f"{p}: unknown keys {sorted(unknown)}")
        experiment = cls(**values, source=str(p))
        experiment.overrides = [*experiment.overrides, *(overrides or [])]
        if ratios:
            experiment.ratios = list(ratios)
            experiment.options += [a for r in ratios for a in ("--ratio", f"{r:g}")]
        if methods:
            # --method names every row: a reference (e.g. the teachers) runs only if named,
            # so `--method supervised` trains the supervised student and nothing else.
            experiment.references = [m for m in experiment.references if m in methods]
            experiment.methods = [m for m in methods if m not in experiment.references]
            experiment.options += [a for m in methods for a in ("--method", m)]
        if seeds:
            experiment.seeds = list(seeds)
            experiment.options += [a for seed in seeds for a in ("--seed", str(seed))]
        if out is not None:
            experiment.out = str(out)
            experiment.options += ["--out", str(out)]
        for method in [*experiment.rows_methods, *experiment.method_ratios]:
            if method not in METHODS:
                raise RoadkdError(f"{p}: unknown method {method!r} (known: {', '.join(METHODS)})")
        if not (isinstance(experiment.threads, int) and experiment.threads >= 1):
            raise RoadkdError(
                f"{p}: threads must be a positive integer, not {experiment.threads!r}"
            )
        for ratio in [
            *experiment.ratios,
            *(r for rs in experiment.method_ratios.values() for r in rs),
        ]:
            if not 0 < ratio <= 1:
                raise RoadkdError(f"{p}: labelled ratio {ratio} is not in (0, 1]")
        if not experiment.seeds or not all(isinstance(s, int) for s in experiment.seeds):
            raise RoadkdError(f"{p}: seeds must be a non-empty list of integers")
        for ratio, seeds in experiment.seeds_at.items():
            if not (0 < ratio <= 1 and seeds and all(isinstance(s, int) for s in seeds)):
                raise RoadkdError(
                    f"{p}: seeds_at maps a ratio in (0, 1] to a list of seeds, not "
                    f"{ratio!r}: {seeds!r}"
                )
        for encoder, weights in experiment.encoder_weights.items():
            if not Path(weights).is_file():
                raise RoadkdError(f"{p}: encoder weights for {encoder} not found: {weights}")
        if experiment.tile is not None and not (
            isinstance(experiment.tile, int) and experiment.tile > 0 and experiment.tile % 32 == 0
        ):
            raise RoadkdError(
                f"{p}: tile must be a positive multiple of 32, not {experiment.tile!r}"
            )
        for method in {*experiment.rows_methods, *experiment.needed_teachers}:
            config = Path(experiment.configs) / f"{method}.yaml"
            if not config.is_file():
                raise RoadkdError(f"{p}: no training config for {method!r}: {config} not found")
        return experiment

    @property
    def rows_methods(self) -> list[str]:
        """Methods with rows in the table: the compared ones, then the references."""
        return [*self.methods, *self.references]

    def methods_at(self, ratio: float) -> list[str]:
        """The table's methods that run at ``ratio`` (see ``method_ratios``)."""
        return [
            m
            for m in self.rows_methods
            if m not in self.method_ratios or ratio in self.method_ratios[m]
        ]

    def seeds_for(self, ratio: float) -> list[int]:
        """The seeds that run at ``ratio`` (see ``seeds_at``)."""
        if ratio not in self.seeds_at:
            return list(self.seeds)
        return [seed for seed in self.seeds if seed in self.seeds_at[ratio]]

    @property
    def needed_teachers(self) -> list[str]:
        """Teachers runs the distilled methods need."""
        return [need for m in self.rows_methods if (need := METHODS[m].needs) is not None]

    @property
    def command(self) -> str:
        """The command line that runs this experiment, quoted for a POSIX shell."""
        words = ["roadkd", "experiment", "--config", self.source, *self.options, *self.overrides]
        return shlex.join(words)


def ratio_label(ratio: float) -> str:
    """Write a labelled ratio as a fraction: 0.125 -> "1/8", 1.0 -> "1"."""
    return str(Fraction(ratio).limit_denominator(1024))
