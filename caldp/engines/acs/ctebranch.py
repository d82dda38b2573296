"""The CTE branch of calacs (HSTCAL ``calacs/calacs.c: ProcessACSCCD``) when PCTECORR = PERFORM.

Per exposure ``_blv_tmp`` → ACSCTE → ``_blc_tmp`` (made before ACSREJ touches the ``_blv_tmp`` DQ);
for a CR-SPLIT/repeat association ACSREJ → ``<product>_crc_tmp`` → ACS2D → ``<product>_crc``; per
exposure ACS2D → ``_flc``. ACS2D on this branch subtracts the CTE-corrected dark DRKCFILE instead
of DARKFILE (``acs2d/dodark.c``; FLSHFILE stays), the ``_flc``/``_crc`` say PCTECORR = COMPLETE,
while ``_flt``/``_crj`` keep PCTECORR = PERFORM. A missing PCTETAB (or DRKCFILE with DARKCORR =
PERFORM) stops the run before any processing, as calacs.e's reference check does.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from ..common.hstio import Exposure, read_exposure, write_exposure
from .acscte import acscte
from .context import AcsKeys, read_keys, reference

log = logging.getLogger(__name__)


def wanted(keys: AcsKeys) -> bool:
    return keys.perform("PCTECORR")


def check_references(primary, env: Mapping[str, str], *, file: str, keys: AcsKeys) -> None:
    """PCTETAB (and DRKCFILE when DARKCORR = PERFORM) must exist (``refexist.c``): MissingReference."""
    reference(primary, "PCTETAB", env, file=file)
    if keys.perform("DARKCORR"):
        reference(primary, "DRKCFILE", env, file=file)


def product_names(members: list[str], prod: str, *, combine: bool, keep: bool) -> list[str]:
    names = [f"{m}_flc.fits" for m in members]
    if keep:
        names += [f"{m}_blc_tmp.fits" for m in members]
    if combine:
        names.append(f"{prod}_crc.fits")
        if keep:
            names.append(f"{prod}_crc_tmp.fits")
    return names


def make_blc(blv: Exposure, keys: AcsKeys, env) -> Exposure:
    """ACSCTE on an in-memory ``_blv_tmp`` (left unchanged)."""
    log.info("ACSCTE: %s -> %s", blv.filename, blv.filename.replace("_blv_tmp", "_blc_tmp"))
    return acscte(blv, keys=keys, env=env)


def with_cte_dark(exp: Exposure) -> tuple[Exposure, object]:
    """`exp` whose DARKFILE names the DRKCFILE (what ACS2D subtracts on this branch); returns it and the
    original DARKFILE value to put back into the product."""
    original = exp.primary.get("DARKFILE")
    if "DRKCFILE" in exp.primary:
        exp.primary["DARKFILE"] = exp.primary["DRKCFILE"]
    return exp, original


def acs2d_cte(acs2d, exp: Exposure, *, env, refs, combined: bool = False) -> Exposure:
    """ACS2D with the CTE-corrected dark; the product's DARKFILE keyword keeps its original value."""
    exp, original = with_cte_dark(exp)
    keys = read_keys(exp.primary, file=exp.filename)
    out = acs2d(exp, keys=keys, env=env, refs=refs, combined=combined)
    if original is not None:
        out.primary["DARKFILE"] = original
    return out


def name_crc(crc_tmp: Exposure, prod: str) -> Exposure:
    """calacs.e names the CTE-corrected combination after its temporary file: ROOTNAME
    ``<PRODUCT>_CRC_TMP`` and EXPNAME ``<product>_crc_tmp`` (kept in the ``_crc``)."""
    crc_tmp.primary["ROOTNAME"] = f"{prod.upper()}_CRC_TMP"
    for im in crc_tmp.imsets:
        for h in im.headers.values():
            h["EXPNAME"] = f"{prod}_crc_tmp"
    crc_tmp.filename = f"{prod}_crc_tmp.fits"
    return crc_tmp


def park(blc: Exposure, outdir, stack) -> Path:
    """Keep a ``_blc_tmp`` on disk until the ``_flt`` branch is done (calacs.e keeps it on disk too):
    only one exposure's CTE copy is in memory while the ``_blv_tmp``s are. The file is private
    (``.<name>.caldp-parked`` in `outdir`) and removed when `stack` (a contextlib.ExitStack) closes."""
    path = Path(outdir) / f".{blc.filename}.caldp-parked"
    stack.callback(path.unlink, missing_ok=True)
    write_exposure(blc, path, overwrite=True)
    return path


def unpark(path: Path) -> Exposure:
    """The parked ``_blc_tmp`` read back (same bits and headers), named ``<root>_blc_tmp.fits``."""
    exp = read_exposure(path, ir=False)
    exp.filename = path.name[1 : -len(".caldp-parked")]
    exp.primary["FILENAME"] = exp.filename
    return exp
