"""Driver bookkeeping shared by calacs and calwf3 (HSTCAL ``acstable.c``/``wf3table.c: GetAsnTable``,
``calacs.c``/``calwf3.c``): one run's products, trailer and rollback (:func:`driver_run`), the
association table's rows, rootnames, raw members, CAL_VER.

The instrument drivers keep what differs: which rows make a product (ACS one product; WFC3
sub-products by position), the INSTRUME/DETECTOR checks, and their CR-combination rules.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import NamedTuple

from . import fitsfile as ff
from . import trailer
from .errors import EngineError
from .outputs import Products
from .threads import thread_count


@dataclass(slots=True)
class DriverRun:
    """One calacs/calwf3 call: its input, output directory, environment (``jref``/``iref``…), the
    :class:`~caldp.engines.common.outputs.Products` it writes, and the rootnames that get a trailer."""

    input_path: Path
    outdir: Path
    env: Mapping[str, str]
    out: Products
    trailer_roots: list[str] = field(default_factory=list)


@contextlib.contextmanager
def driver_run(input_path, *, outdir, env: Mapping[str, str] | None, cal_ver: tuple[str, str]) -> Iterator[DriverRun]:
    """Set up a driver call and finish it: EngineError when `input_path` is missing; `outdir` defaults to
    the input's directory and `env` to ``os.environ``; products carry CAL_VER = `cal_ver` (value,
    comment) and are written in the background with more than one thread. The engines' log lines
    of the ``with`` body are captured; on success each of ``run.trailer_roots`` gets them as its
    ``.tra`` trailer, on any failure every product this call wrote is removed again.
    """
    input_path = Path(input_path)
    if not input_path.is_file():
        raise EngineError("input file not found", file=input_path)
    outdir = Path(outdir) if outdir is not None else input_path.parent
    env = os.environ if env is None else env
    run = DriverRun(input_path, outdir, env, Products(outdir, cal_ver=cal_ver, background=thread_count() > 1))
    try:
        with trailer.capture("caldp.engines") as lines:
            yield run
        for root in run.trailer_roots:
            run.out.trailer(root, lines)
    except BaseException:
        run.out.rollback()
        raise


class AsnRow(NamedTuple):
    """One row of an association table: MEMNAME (lower case), MEMTYPE (lower case, ``_`` → ``-``), MEMPRSNT."""

    name: str
    mtype: str
    present: bool


def read_asn_table(path: Path) -> tuple[ff.Header, list[AsnRow]]:
    """(primary header, rows) of an ``_asn.fits`` table; EngineError naming the file when it cannot be read
    or lacks MEMNAME, MEMTYPE or MEMPRSNT."""
    try:
        with ff.open(path) as hdul:
            primary = hdul[0].header
            table = hdul[1].data
            names = {n.upper(): n for n in table.dtype.names}
            for col in ("MEMNAME", "MEMTYPE", "MEMPRSNT"):
                if col not in names:
                    raise EngineError(f"association table has no {col} column", file=path.name, keyword=col)
            rows = [
                AsnRow(
                    str(r[names["MEMNAME"]]).strip().lower(),
                    str(r[names["MEMTYPE"]]).strip().lower().replace("_", "-"),
                    bool(r[names["MEMPRSNT"]]),
                )
                for r in table
            ]
    except EngineError:
        raise
    except (OSError, IndexError, KeyError, ValueError, TypeError, AttributeError) as exc:
        raise EngineError(f"cannot read association table ({exc})", file=path.name) from exc
    return primary, rows


def rootname_of(path: Path) -> str:
    """The rootname of an ``_asn.fits``/``_raw.fits`` file (else the name up to the first ``_``).

    >>> rootname_of(Path("ICS401010_asn.fits")), rootname_of(Path("j8cb01u2q_raw.fits"))
    ('ICS401010', 'j8cb01u2q')
    """
    name = path.name
    for suffix in ("_asn.fits", "_raw.fits"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name.split("_")[0]


def member_raw(srcdir: Path, root: str) -> Path:
    """``<root>_raw.fits`` in `srcdir` (lower- or upper-case rootname); EngineError when neither exists."""
    for cand in (srcdir / f"{root}_raw.fits", srcdir / f"{root.upper()}_raw.fits"):
        if cand.is_file():
            return cand
    raise EngineError("association member not found", file=f"{root}_raw.fits")


def cal_ver(program: str, semantics: str) -> str:
    """CAL_VER written into products: ``caldp <version> (<program> <semantics> semantics)``."""
    try:
        version = metadata.version("caldp")
    except metadata.PackageNotFoundError:  # pragma: no cover
        version = "0"
    return f"caldp {version} ({program} {semantics} semantics)"
