"""How much memory a dataset's calibration needs, CALCLOUD-style.

CALCLOUD sorts every job into a memory bin before it runs and, when the container is
killed for memory, resubmits it once in the next bin. caldp does the same with Dask
resources: workers advertise ``resources={"memory": <MB>}`` and each dataset's calibrate
task asks for its *rung*, the smallest rung at or above its estimated peak, so a worker
never runs more calibrations at once than its memory holds.

The model (see ``docs/notes/batch.md`` for the measurements behind it) is linear in the
size of the raw inputs::

    peak_mb = base_mb + per_input_mb * input_mb          (per instrument and mode)
    rung    = smallest rung >= peak_mb * MARGIN

COS TIME-TAG datasets count events instead of bytes (``events x COS_BYTES_PER_EVENT``): calcos's
peak is a base (full-detector images) plus a cost per event.

>>> est = estimate("j8cb010b0", input_bytes=4 * 35 * 2**20)
>>> est.mode, est.peak_mb, est.rung_mb
('acs-asn', 1840, 4096)
>>> next_rung(4096), next_rung(65536)
(8192, None)
>>> fit_rung(8192, capacity_mb=6000)
6000
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..datasets import Dataset
from ..storage import split_uri

log = logging.getLogger(__name__)

#: Memory rungs (MB): CALCLOUD's bins (2, 8, 16, 64 GB) with a 4 GB step added for laptops.
RUNGS_MB: tuple[int, ...] = (2048, 4096, 8192, 16384, 65536)
#: Head-room over the modelled peak.
MARGIN = 1.25


@dataclass(frozen=True, slots=True)
class Coefficients:
    base_mb: float  # interpreter, imports, reference files of one dataset
    per_input_mb: float  # peak MB per MB of raw input (float32 copies, temporaries, CR stack)
    default_input_mb: float  # assumed input size when it cannot be measured before submission


#: COS TIME-TAG through calcos: the events drive memory. calcos holds each exposure's events table
#: (corrtag columns and float64 working copies) and builds full-detector images (an FUV segment is
#: 16384x1024: counts, flt, error, DQ and temporaries, the base); for the model, COS input size is
#: "event bytes": events x COS_BYTES_PER_EVENT, the bytes of one event in a rawtag (TIME E, RAWX I,
#: RAWY I, PHA B), counted from the EVENTS headers by :func:`local_input_bytes`. Measured on
#: simulated cos-fuv-asn (docs/notes/cos.md).
COS_BYTES_PER_EVENT = 9
COS_BASE_MB = 1150.0
COS_MB_PER_MEVENT = 200.0

#: Fitted on full-frame simulated data (``docs/notes/batch.md``): ACS/WFC through caldp-process
#: with the builtin engine and stage 2 (whole-process peak); WFC3/UVIS from the builtin engine
#: alone (slope 13.9 MB/MB) plus the ~250 MB caldp-process and stage 2 add for ACS. HSTCAL's
#: programs peak lower (calwf3.e ~210 MB whatever the association size).
MODEL: dict[str, Coefficients] = {
    "acs-asn": Coefficients(650.0, 8.5, 70.0),
    "acs": Coefficients(650.0, 8.5, 35.0),
    "wfc3-asn": Coefficients(700.0, 14.0, 70.0),
    "wfc3": Coefficients(700.0, 14.0, 35.0),
    "stis-asn": Coefficients(400.0, 8.0, 20.0),
    "stis": Coefficients(400.0, 8.0, 10.0),
    "cos-asn": Coefficients(COS_BASE_MB, COS_MB_PER_MEVENT / 1e6 * 2**20 / COS_BYTES_PER_EVENT, 30.0),
    "cos": Coefficients(COS_BASE_MB, COS_MB_PER_MEVENT / 1e6 * 2**20 / COS_BYTES_PER_EVENT, 15.0),
}


@dataclass(frozen=True, slots=True)
class Estimate:
    dataset: str
    mode: str
    input_mb: float
    measured: bool  # input size measured (True) or assumed from the mode (False)
    peak_mb: int
    rung_mb: int


def mode_of(dataset: str) -> str:
    """The model's mode key: instrument, plus ``-asn`` for associations.

    >>> mode_of("iabc01010"), mode_of("jabc01abq")
    ('wfc3-asn', 'acs')
    """
    ds = Dataset.parse(dataset)
    return f"{ds.instrument}-asn" if ds.is_association else ds.instrument


def rung_for(peak_mb: float, rungs: Sequence[int] = RUNGS_MB) -> int:
    """The smallest rung holding `peak_mb` with the margin (the top rung if none does)."""
    need = peak_mb * MARGIN
    for r in rungs:
        if r >= need:
            return r
    return rungs[-1]


def next_rung(rung_mb: int, rungs: Sequence[int] = RUNGS_MB) -> int | None:
    """The rung above `rung_mb`, or None at the top."""
    bigger = [r for r in rungs if r > rung_mb]
    return bigger[0] if bigger else None


def fit_rung(rung_mb: int, capacity_mb: float | None) -> int:
    """Clamp a rung to the largest worker's memory resource, so the task can run at all
    (alone on that worker) instead of waiting forever."""
    if capacity_mb is None or rung_mb <= capacity_mb:
        return rung_mb
    return int(capacity_mb)


def estimate(dataset: str, input_bytes: int | None = None, rungs: Sequence[int] = RUNGS_MB) -> Estimate:
    """The modelled peak memory and rung of one dataset."""
    mode = mode_of(dataset)
    coef = MODEL[mode]
    measured = input_bytes is not None
    input_mb = input_bytes / 2**20 if measured else coef.default_input_mb
    peak = int(math.ceil(coef.base_mb + coef.per_input_mb * input_mb))
    return Estimate(Dataset.parse(dataset).name, mode, round(input_mb, 1), measured, peak, rung_for(peak, rungs))


def local_input_bytes(input_uri: str, dataset: str) -> int | None:
    """Size of a dataset's raw inputs under a ``file:`` input (None if not found or not local).

    Looks where fetch looks: ``<dir>/<ipppssoot>/`` or ``<dir>``, files ``<ipppss>*_raw.fits``
    (or the dataset's tarball, counted as is). Only stats files, so 1,000 datasets stay fast.
    """
    scheme, rest = split_uri(input_uri)
    if scheme != "file":
        return None
    ds = Dataset.parse(dataset)
    root = Path(rest)
    if (root / ds.name).is_dir():
        root = root / ds.name
    try:
        names = [p for p in root.iterdir() if p.name.lower().startswith(ds.ipppss)]
    except OSError:
        return None
    raws = [p for p in names if "_raw" in p.name.lower() and p.name.lower().endswith(".fits")]
    tars = [p for p in names if p.name.lower().endswith(".tar.gz")]
    chosen = raws or tars
    if not chosen:
        return None
    if ds.instrument == "cos" and raws:
        events = cos_events(raws)
        if events is not None:
            return events * COS_BYTES_PER_EVENT
    return sum(p.stat().st_size for p in chosen)


def cos_events(rawtags: Sequence[Path]) -> int | None:
    """Total events in COS TIME-TAG raws (NAXIS2 of each EVENTS header; ACCUM images count their pixels'
    bytes as events would). None if a file cannot be read."""
    from astropy.io import fits

    total = 0
    for path in rawtags:
        try:
            with fits.open(path, memmap=True) as hdul:
                names = [h.name for h in hdul]
                if "EVENTS" in names:
                    total += int(hdul["EVENTS"].header.get("NAXIS2", 0))
                else:
                    total += path.stat().st_size // COS_BYTES_PER_EVENT
        except OSError:
            return None
    return total
