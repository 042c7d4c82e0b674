"""Imported once by the worker processes' fork server: ready every worker before it forks.

Importing the vectoriser takes seconds and skan compiles its numba kernels on first use
(several seconds more); done here, in the process that forks the workers, each worker
starts with both done instead of paying for them again.
"""

import numpy as np
from affine import Affine

from .run import vectorize_array


def warm_up() -> None:
    """Vectorise a tiny road so that every compiled kernel is built."""
    road = np.zeros((32, 32), np.float32)
    road[12:20, :] = 1
    road[:, 12:20] = 1
    vectorize_array(road, Affine(0.5, 0, 0, 0, -0.5, 0), None)


warm_up()
