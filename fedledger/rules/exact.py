"""Sums whose order is fixed by this code, not by numpy or BLAS, so that every machine gets the same bits.

``np.sum`` uses pairwise summation whose blocking is an implementation detail, and ``np.dot``/``@`` hand the work
to whatever BLAS is installed, which reorders freely (and differently per CPU). Norms and distances that decide
which update a robust rule keeps must not depend on that. Here a flat float64 array is folded into rows of
``WIDTH`` values that are added one row after another with element-wise adds (each one IEEE-exact in order),
and the ``WIDTH`` partial sums are finished with ``math.fsum`` (correctly rounded).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

WIDTH = 1024


def fixed_sum(values: npt.NDArray[np.float64]) -> float:
    """The sum of a float64 array in a fixed order: row by row into WIDTH partial sums, then math.fsum."""
    flat = np.ascontiguousarray(values, dtype=np.float64).reshape(-1)
    full = len(flat) - len(flat) % WIDTH
    partial = np.zeros(WIDTH, np.float64)
    for row in flat[:full].reshape(-1, WIDTH):
        partial += row
    return math.fsum(partial.tolist() + flat[full:].tolist())


def sum_of_squares(values: npt.NDArray[np.float64]) -> float:
    """Σ x² in a fixed order (squares of float32 differences are exact in float64)."""
    flat = np.asarray(values, dtype=np.float64)
    return fixed_sum(flat * flat)


def squared_distance(a: npt.NDArray[np.floating], b: npt.NDArray[np.floating]) -> float:
    """Σ (a - b)² in float64, in a fixed order."""
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return fixed_sum(diff * diff)
