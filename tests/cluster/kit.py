"""Test kit for the batch tests: a tiny real CRDS cache, tiny ACS exposures, and a
stand-in ``calacs.e`` run through caldp's real HSTCAL engine.

The stand-in exists because orchestration tests must not depend on full calibration:
it copies the raw file to ``_flt.fits`` (HSTCAL-style, refusing nothing) and writes a trailer, and can be told (through
the calibration environment) to sleep, to log each run, or to SIGKILL the Dask worker
that launched it, the way the kernel's OOM killer ends a container.
"""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
from astropy.io import fits

CONTEXT = "hst_0007.pmap"
CCDTAB = "zz10001aj_ccd.fits"

_PMAP = f"""header = {{
    'derived_from' : 'caldp cluster tests',
    'mapping' : 'PIPELINE',
    'name' : '{CONTEXT}',
    'observatory' : 'HST',
    'parkey' : ('INSTRUME',),
    'sha1sum' : '0',
}}

selector = {{
    'ACS' : 'hst_acs_0007.imap',
}}
"""

_IMAP = """header = {
    'derived_from' : 'caldp cluster tests',
    'instrument' : 'ACS',
    'mapping' : 'INSTRUMENT',
    'name' : 'hst_acs_0007.imap',
    'observatory' : 'HST',
    'parkey' : ('REFTYPE',),
    'sha1sum' : '0',
}

selector = {
    'ccdtab' : 'hst_acs_ccdtab_0007.rmap',
}
"""

_RMAP = f"""header = {{
    'derived_from' : 'caldp cluster tests',
    'filekind' : 'CCDTAB',
    'instrument' : 'ACS',
    'mapping' : 'REFERENCE',
    'name' : 'hst_acs_ccdtab_0007.rmap',
    'observatory' : 'HST',
    'parkey' : (('DETECTOR',), ('DATE-OBS', 'TIME-OBS')),
    'reffile_format' : 'TABLE',
    'reffile_required' : 'YES',
    'reffile_switch' : 'NONE',
    'rmap_relevance' : 'ALWAYS',
    'sha1sum' : '0',
}}

selector = Match({{
    ('WFC',) : UseAfter({{
        '2002-03-01 00:00:00' : '{CCDTAB}',
    }}),
}})
"""

_FAKE_CALACS = '''#!{python}
"""Stand-in for calacs.e (tests only): raw -> flt copy plus a trailer."""
import os, shutil, signal, sys, time
from pathlib import Path

env = os.environ
raw = Path(sys.argv[-1])
root = raw.name.split("_")[0]
if env.get("FAKE_CALACS_LOG"):
    with open(env["FAKE_CALACS_LOG"], "a") as f:
        f.write(f"{{root}} {{os.getpid()}} {{os.getppid()}}\\n")
kills = Path(env.get("FAKE_CALACS_KILLS", "/nonexistent"))
if kills.is_file():
    left = int(kills.read_text() or 0)
    if left > 0:
        kills.write_text(str(left - 1))
        os.kill(os.getppid(), signal.SIGKILL)
        time.sleep(30)
time.sleep(float(env.get("FAKE_CALACS_SLEEP", "0")))
shutil.copyfile(raw, f"{{root}}_flt.fits")
Path(f"{{root}}.tra").write_text(f"stand-in calacs.e processed {{raw.name}}\\n")
'''


def build_crds_cache(root: Path) -> Path:
    """A CRDS cache with one ACS rule (CCDTAB by DETECTOR and date) and its table."""
    mappings, refs, config = (root / sub / "hst" for sub in ("mappings", "references", "config"))
    for d in (mappings, refs, config):
        d.mkdir(parents=True, exist_ok=True)
    for name, text in ((CONTEXT, _PMAP), ("hst_acs_0007.imap", _IMAP), ("hst_acs_ccdtab_0007.rmap", _RMAP)):
        (mappings / name).write_text(text)
    subprocess.run(
        [sys.executable, "-m", "crds.refactoring.checksum", *map(str, sorted(mappings.iterdir()))],
        check=True,
        capture_output=True,
    )
    hdr = fits.Header(
        dict(
            INSTRUME="ACS",
            DETECTOR="WFC",
            FILETYPE="CCD PARAMETERS",
            USEAFTER="Mar 01 2002 00:00:00",
            PEDIGREE="DUMMY",
            DESCRIP="cluster test table",
        )
    )
    table = fits.BinTableHDU.from_columns([fits.Column(name="CCDAMP", format="4A", array=np.array(["ABCD"]))])
    fits.HDUList([fits.PrimaryHDU(header=hdr), table]).writeto(refs / CCDTAB)
    (refs / "ref_cache_subdir_mode").write_text("flat")
    (config / "server_config").write_text(
        repr(
            dict(
                observatory="hst",
                operational_context=CONTEXT,
                edit_context=CONTEXT,
                bad_files="",
                bad_files_list=[],
                last_synced="2026-01-01 00:00:00",
                force_remote_mode=False,
                crds_version={"str": "12.0.0"},
                effective_mode="local",
            )
        )
    )
    return root


def dataset_names(count: int, start: int = 0) -> list[str]:
    """ACS exposure ids with distinct ``ipppss`` prefixes: jts00001q, jts00101q, …"""
    return [f"jts{i:03d}01q" for i in range(start, start + count)]


def write_inputs(inputs: Path, names: list[str], npix: int = 32) -> Path:
    """One ``<inputs>/<name>/<name>_raw.fits`` per dataset (a tiny WFC exposure)."""
    rng = np.random.default_rng(7)
    for name in names:
        d = inputs / name
        d.mkdir(parents=True, exist_ok=True)
        hdr = fits.Header(
            dict(
                INSTRUME="ACS",
                DETECTOR="WFC",
                ROOTNAME=name.upper(),
                FILENAME=f"{name}_raw.fits",
                DATE="2026-01-01",
                **{"DATE-OBS": "2004-05-01", "TIME-OBS": "10:00:00"},
                EXPSTART=53126.4,
                EXPTIME=100.0,
                OBSTYPE="IMAGING",
                FILTER1="F606W",
                FILTER2="CLEAR2L",
                CCDAMP="ABCD",
                CCDGAIN=2.0,
            )
        )
        sci = fits.ImageHDU(rng.integers(0, 4000, (npix, npix), dtype=np.uint16), name="SCI")
        fits.HDUList([fits.PrimaryHDU(header=hdr), sci]).writeto(d / f"{name}_raw.fits", overwrite=True)
    return inputs


def fake_calacs(bindir: Path) -> Path:
    """Write the stand-in ``calacs.e`` into `bindir`; returns `bindir` (prepend it to PATH)."""
    bindir.mkdir(parents=True, exist_ok=True)
    exe = bindir / "calacs.e"
    exe.write_text(_FAKE_CALACS.format(python=sys.executable))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return bindir
