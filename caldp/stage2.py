"""Stage 2: drizzlepac's ``runastrodriz`` on a calibrated ACS or WFC3 dataset, as CALDP runs it.

CALDP (``InstrumentManager.process_inputs`` in caldp/process.py) runs ``runastrodriz -n 1`` on the
association, or on the unassociated ``_raw`` file, in the directory holding the calibrated
``_flt``/``_flc`` files. runastrodriz reads DRIZCORR from the first member's ``_raw`` header,
updates the ``_flt``/``_flc`` WCS (``updatewcs``, headerlets ``*_hlet.fits``), drizzles with the
parameters of the MDRIZTAB row that fits and writes ``<product>_drz.fits`` (and ``_drc.fits``
from ``_flc`` files) and a ``<root>.tra`` trailer.

Here it runs as a subprocess (``python -m drizzlepac.runastrodriz``) with ``cwd=workdir``. Unless
the environment turns them on, the astrometry switches are forced off and HTTP(S) goes to a
closed local port, so nothing waits on MAST's astrometry database, Gaia catalogs or IERS
downloads; the run has a wall-clock limit too.
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from astropy.io import fits

log = logging.getLogger(__name__)

#: Environment switches of runastrodriz/stwcs that reach for network astrometry services.
ASTROMETRY_SWITCHES = ("ASTROMETRY_COMPUTE_APOSTERIORI", "ASTROMETRY_APPLY_APRIORI", "ASTROMETRY_STEP_CONTROL")
#: runastrodriz's spellings of "on" (drizzlepac.util.envvar_bool_dict).
_ON = {"on", "yes", "true", "1"}
#: A proxy nobody listens on: any HTTP(S) request fails at once instead of waiting.
CLOSED_PROXY = "http://127.0.0.1:9"
#: Wall-clock limit of one runastrodriz run in seconds (CALDP_STAGE2_TIMEOUT overrides).
DEFAULT_TIMEOUT = 3600.0
PRODUCT_SUFFIXES = ("_drz.fits", "_drc.fits")
#: Lines of runastrodriz's output repeated in caldp's log when it fails.
TAIL_LINES = 20


class Stage2Error(RuntimeError):
    """runastrodriz failed; the message is one line."""


def astrometry_enabled(env: dict[str, str]) -> bool:
    """True when any astrometry switch in `env` is on (runastrodriz's values, any case).

    >>> astrometry_enabled({"ASTROMETRY_APPLY_APRIORI": "Yes"})
    True
    >>> astrometry_enabled({"ASTROMETRY_COMPUTE_APOSTERIORI": "off"}), astrometry_enabled({})
    (False, False)
    """
    return any(env.get(k, "").strip().lower() in _ON for k in ASTROMETRY_SWITCHES)


def drizzle_env(env: dict[str, str]) -> dict[str, str]:
    """The subprocess environment: `env` with astrometry off and the network closed, unless enabled.

    >>> e = drizzle_env({"jref": "/refs/", "HTTPS_PROXY": "http://proxy:3128"})
    >>> e["jref"], e["ASTROMETRY_APPLY_APRIORI"], e["HTTPS_PROXY"], e["MPLBACKEND"]
    ('/refs/', 'off', 'http://127.0.0.1:9', 'Agg')
    >>> drizzle_env({"ASTROMETRY_APPLY_APRIORI": "on"})["ASTROMETRY_COMPUTE_APOSTERIORI"]
    'off'
    """
    out = {str(k): str(v) for k, v in env.items()}
    online = astrometry_enabled(out)
    for key in ASTROMETRY_SWITCHES:
        if out.get(key, "").strip().lower() not in _ON:
            out[key] = "off"
    if not online:
        for key in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
            out[key] = CLOSED_PROXY
        for key in ("NO_PROXY", "no_proxy"):
            out.pop(key, None)
    out["MPLBACKEND"] = "Agg"
    out["PYTHONUNBUFFERED"] = "1"
    return out


def association_members(asn: Path) -> tuple[list[str], list[str]]:
    """(present exposure rootnames, product rootnames) of an association table, lower case."""
    with fits.open(asn) as hdul:
        tab = hdul[1].data
        names = np.char.lower(np.char.strip(tab["MEMNAME"].astype(str)))
        types = np.char.upper(np.char.strip(tab["MEMTYPE"].astype(str)))
        present = np.asarray(tab["MEMPRSNT"]).astype(bool)
    exposures = [str(n) for n, t, p in zip(names, types, present, strict=True) if t.startswith("EXP") and p]
    products = [str(n) for n, t in zip(names, types, strict=True) if t.startswith("PROD")]
    return exposures, products


def input_raw(workdir: Path, name: str) -> Path:
    """The ``_raw`` file whose primary header runastrodriz reads DRIZCORR from."""
    if name.endswith("_asn.fits"):
        exposures, _ = association_members(workdir / name)
        if not exposures:
            raise Stage2Error(f"{name} lists no present exposures")
        return workdir / f"{exposures[0]}_raw.fits"
    return workdir / name


def resolve_iraf_path(value: str, env: dict[str, str]) -> Path:
    """``jref$name.fits`` → ``<env['jref']>name.fits``; plain paths unchanged.

    >>> resolve_iraf_path("jref$x_mdz.fits", {"jref": "/crds/references/hst/"})
    PosixPath('/crds/references/hst/x_mdz.fits')
    """
    if "$" in value:
        prefix, name = value.split("$", 1)
        base = env.get(prefix) or env.get(prefix.lower()) or env.get(prefix.upper())
        if base is None:
            raise Stage2Error(f"{value}: environment variable {prefix!r} is not set")
        return Path(base) / name
    return Path(value)


def failure_reason(output: str) -> str:
    """One line saying why runastrodriz failed, picked from its output.

    The last specific ``[ERROR ...]`` line wins; then the last exception line of a traceback.

    >>> failure_reason("[INFO    ] x\\n[ERROR   ] MDRIZTAB table 'a' could not be found!\\n"
    ...                "[ERROR   ] Cannot run astrodrizzle on runastrodriz.py -n 1 a_asn.fits.\\n")
    "MDRIZTAB table 'a' could not be found!"
    >>> failure_reason("Traceback (most recent call last):\\nKeyError: \\"Keyword 'EXPNAME' not found.\\"\\n")
    'KeyError: "Keyword \\'EXPNAME\\' not found."'
    >>> failure_reason("")
    'no error message'
    """
    errors = [
        m.group(1).strip()
        for m in re.finditer(r"^\[ERROR\s*\]\s*(.*)$", output, re.MULTILINE)
        if m.group(1).strip() and not m.group(1).startswith(("#", "Cannot run astrodrizzle", "Could not complete"))
    ]
    if errors:
        return errors[-1]
    exc = re.findall(r"^(\w+(?:Error|Exception|Exit)\b:?.*)$", output, re.MULTILINE)
    if exc:
        return exc[-1].strip()
    return "no error message"


def _products(workdir: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for suffix in PRODUCT_SUFFIXES for p in workdir.glob(f"*{suffix}")}


def run_runastrodriz(workdir: Path, name: str, env: dict[str, str], log_path: Path, timeout: float) -> list[Path]:
    """One ``runastrodriz -n 1 <name>`` in `workdir`; its output goes to `log_path`. Returns new products."""
    cmd = [sys.executable, "-m", "drizzlepac.runastrodriz", "-n", "1", name]
    before = _products(workdir)
    log.info("Running runastrodriz -n 1 %s (log %s)", name, log_path.name)
    t0 = time.monotonic()
    with open(log_path, "w") as logf:
        try:
            proc = subprocess.run(
                cmd, cwd=workdir, env=drizzle_env(env), stdout=logf, stderr=subprocess.STDOUT, timeout=timeout
            )
        except subprocess.TimeoutExpired as exc:
            raise Stage2Error(f"runastrodriz {name} timed out after {timeout:.0f} s (log {log_path.name})") from exc
    elapsed = time.monotonic() - t0
    output = log_path.read_text(errors="replace")
    after = _products(workdir)
    made = [workdir / n for n in sorted(after) if before.get(n) != after[n]]
    if proc.returncode != 0 or not made:
        tail = output.strip().splitlines()[-TAIL_LINES:]
        log.error("runastrodriz %s failed; last lines of %s:\n%s", name, log_path, "\n".join(tail))
        why = failure_reason(output) if proc.returncode != 0 or "[ERROR" in output else "no _drz product written"
        raise Stage2Error(f"runastrodriz {name} (exit {proc.returncode}): {why} (log {log_path.name})")
    log.info("runastrodriz %s made %s in %.1f s", name, ", ".join(p.name for p in made), elapsed)
    return made


def run_stage2(
    workdir: Path, files: list[str], *, instrument: str, env: dict, log_dir: Path, timeout: float | None = None
) -> list[Path]:
    """Drizzle the calibrated dataset in `workdir` with runastrodriz; return the ``_drz``/``_drc`` made.

    `files` are the stage-1 inputs (one ``_asn.fits``, or ``_raw.fits`` files); each gets its own
    runastrodriz run (CALDP passes several on one command line, where runastrodriz would take the
    last one for its ``newpath``). DRIZCORR other than PERFORM in the ``_raw`` header skips the run.
    Raises :class:`Stage2Error` (one-line message) when runastrodriz fails or writes no product.
    """
    workdir, log_dir = Path(workdir), Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    if timeout is None:
        timeout = float(env.get("CALDP_STAGE2_TIMEOUT", DEFAULT_TIMEOUT))
    products: list[Path] = []
    for name in files:
        raw = input_raw(workdir, name)
        if not raw.is_file():
            raise Stage2Error(f"{raw.name} not found for {name}")
        hdr = fits.getheader(raw)
        drizcorr = str(hdr.get("DRIZCORR", "")).strip().upper()
        if drizcorr != "PERFORM":
            log.info("Stage 2 skipped for %s: DRIZCORR=%s in %s", name, drizcorr or "(missing)", raw.name)
            continue
        mdriztab = str(hdr.get("MDRIZTAB", "N/A")).strip()
        if mdriztab.upper() in ("", "N/A"):
            raise Stage2Error(f"{raw.name} has no MDRIZTAB; runastrodriz needs one (CRDS assigns it)")
        if not resolve_iraf_path(mdriztab, env).is_file():
            raise Stage2Error(f"MDRIZTAB {mdriztab} not found at {resolve_iraf_path(mdriztab, env)}")
        root = name.rsplit("_", 1)[0]
        products += run_runastrodriz(workdir, name, env, log_dir / f"{root}_runastrodriz.log", timeout)
    log.info("Stage 2 (%s): %s", instrument, ", ".join(p.name for p in products) or "no products")
    return products
