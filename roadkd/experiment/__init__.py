"""Reproduce the paper's comparison: every method at every labelled ratio, one table.

The runner trains each method with its config in one folder (``configs/bench`` or
``configs/roadnet``: the same data, split, seed and budget for all), evaluates the best
checkpoint on the test split, and writes a table (Markdown + CSV), a plot of road IoU
against the labelled ratio and a qualitative figure. Every (method, ratio) runs once per seed of the
experiment, and the table shows the mean and spread over seeds. A finished run (one with a
``result.json``) is read back instead of repeated and an interrupted training continues
from its ``last.ckpt``, so an interrupted experiment resumes where it stopped.

- :mod:`.config`: the experiment file and the known methods;
- :mod:`.rundir`: the layout of one run's folder;
- :mod:`.record`: the runs kept under version control, and which teachers taught whom;
- :mod:`.runner`: launching (through :mod:`roadkd.training`), resuming and scoring runs;
- :mod:`.statistics`: means over seeds, paired differences, the premise, trivial maps;
- :mod:`.report`: the tables (Markdown + CSV), pseudo-label table and provenance;
- :mod:`.figures`: the IoU plot and the qualitative figure.
"""

from .config import METHODS, Experiment, Method, ratio_label
from .figures import error_colours, pick_crops, plot_examples, plot_iou
from .record import run_dir
from .report import PSEUDO_COLUMNS, provenance, write_table
from .rundir import RunDir
from .runner import cpu_megapixels_per_second, run_experiment, training_command
from .statistics import COLUMNS, RUN_COLUMNS, SCORES, summarise

__all__ = [
    "COLUMNS",
    "METHODS",
    "PSEUDO_COLUMNS",
    "RUN_COLUMNS",
    "SCORES",
    "Experiment",
    "Method",
    "RunDir",
    "cpu_megapixels_per_second",
    "error_colours",
    "pick_crops",
    "plot_examples",
    "plot_iou",
    "provenance",
    "ratio_label",
    "run_dir",
    "run_experiment",
    "summarise",
    "training_command",
    "write_table",
]
