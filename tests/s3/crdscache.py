"""A minimal real CRDS cache (one ACS rmap) for the CRDS-from-S3 tests, used when the
simulator's cache is not available. Layout and rules as in shared/docs/crds-offline.md."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from astropy.io import fits

REFERENCE = "aaa0000aj_ccd.fits"
PMAP = "hst_0001.pmap"

PMAP_TEXT = """header = {
    'derived_from' : 'caldp tests',
    'mapping' : 'PIPELINE',
    'name' : 'hst_0001.pmap',
    'observatory' : 'HST',
    'parkey' : ('INSTRUME',),
    'sha1sum' : '0',
}

selector = {
    'ACS' : 'hst_acs_0001.imap',
}
"""

IMAP_TEXT = """header = {
    'derived_from' : 'caldp tests',
    'instrument' : 'ACS',
    'mapping' : 'INSTRUMENT',
    'name' : 'hst_acs_0001.imap',
    'observatory' : 'HST',
    'parkey' : ('REFTYPE',),
    'sha1sum' : '0',
}

selector = {
    'ccdtab' : 'hst_acs_ccdtab_0001.rmap',
}
"""

RMAP_TEXT = """header = {
    'derived_from' : 'caldp tests',
    'filekind' : 'CCDTAB',
    'instrument' : 'ACS',
    'mapping' : 'REFERENCE',
    'name' : 'hst_acs_ccdtab_0001.rmap',
    'observatory' : 'HST',
    'parkey' : (('DETECTOR',), ('DATE-OBS', 'TIME-OBS')),
    'reffile_format' : 'TABLE',
    'reffile_required' : 'YES',
    'reffile_switch' : 'NONE',
    'rmap_relevance' : '(DETECTOR != "SBC")',
    'sha1sum' : '0',
}

selector = Match({
    ('WFC',) : UseAfter({
        '1991-01-01 00:00:00' : 'REFERENCE',
    }),
})
""".replace("REFERENCE", REFERENCE)


def build_crds_cache(root: Path) -> Path:
    """Write the cache (config, mappings, one flat reference); returns `root`."""
    maps = root / "mappings" / "hst"
    refs = root / "references" / "hst"
    cfg = root / "config" / "hst"
    for d in (maps, refs, cfg):
        d.mkdir(parents=True, exist_ok=True)
    (maps / PMAP).write_text(PMAP_TEXT)
    (maps / "hst_acs_0001.imap").write_text(IMAP_TEXT)
    (maps / "hst_acs_ccdtab_0001.rmap").write_text(RMAP_TEXT)
    subprocess.run([sys.executable, "-m", "crds.refactoring.checksum", *map(str, sorted(maps.iterdir()))],
                   check=True, capture_output=True)
    primary = fits.PrimaryHDU()
    for key, value in dict(INSTRUME="ACS", DETECTOR="WFC", FILETYPE="CCD PARAMETERS", USEAFTER="Jan 01 1991 00:00:00",
                           PEDIGREE="DUMMY", DESCRIP="caldp test table").items():
        primary.header[key] = value
    table = fits.BinTableHDU.from_columns([fits.Column(name="CCDAMP", format="4A", array=np.array(["ABCD"]))])
    fits.HDUList([primary, table]).writeto(refs / REFERENCE, overwrite=True)
    (refs / "ref_cache_subdir_mode").write_text("flat")
    (cfg / "server_config").write_text(repr({
        "observatory": "hst", "operational_context": PMAP, "edit_context": PMAP, "bad_files": "",
        "bad_files_list": [], "last_synced": "2024-01-01 00:00:00", "force_remote_mode": False,
        "crds_version": {"str": "14.0.3"}, "effective_mode": "local",
    }))
    return root
