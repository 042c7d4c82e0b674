#!/usr/bin/env python3
"""Write the tiny synthetic dataset that the datamodule and training tests use.

The tests call :func:`make` into a temporary folder (it takes well under a second), so no
binary fixture needs to be committed; run this script to inspect the same data by hand.
"""

import sys
from pathlib import Path

from roadkd.datasets import write_synthetic_dataset


def make(root: Path, scenes: int = 3, size: int = 256, seed: int = 0) -> Path:
    """Write ``scenes`` synthetic scenes of ``size`` px into ``root`` (1 train/val/test each)."""
    return write_synthetic_dataset(root, scenes=scenes, size=size, seed=seed)


if __name__ == "__main__":
    print(make(Path(sys.argv[1] if len(sys.argv) > 1 else "roads_fixture")))
