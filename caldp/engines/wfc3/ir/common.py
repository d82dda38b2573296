"""Small helpers shared by the WF3IR step modules (float32 arithmetic as C does it)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

F32 = np.float32
F64 = np.float64


@dataclass(frozen=True, slots=True)
class Area:
    """The science section ``[y0:y1, x0:x1]`` (reference pixels outside it)."""

    y0: int
    y1: int
    x0: int
    x1: int

    @property
    def sl(self) -> tuple[slice, slice]:
        return (slice(self.y0, self.y1), slice(self.x0, self.x1))

    @classmethod
    def from_trim(cls, shape, trimx, trimy) -> Area:
        """From OSCNTAB TRIMX1/2, TRIMY1/2.

        >>> Area.from_trim((1024, 1024), (5, 5), (5, 5))
        Area(y0=5, y1=1019, x0=5, x1=1019)
        """
        ny, nx = shape
        return cls(trimy[0], ny - trimy[1], trimx[0], nx - trimx[1])


def seq_sum(values: np.ndarray) -> float:
    """Sum accumulated one value at a time in float64, as a C loop over a double does.

    >>> seq_sum(np.array([1e16, 1.0, -1e16], np.float32))
    0.0
    """
    v = np.asarray(values, dtype=F64).ravel()
    if v.size == 0:
        return 0.0
    return float(np.cumsum(v)[-1])
