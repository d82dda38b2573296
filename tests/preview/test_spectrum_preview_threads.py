"""Spectrum previews drawn from many threads at once (caldp-process renders previews on a thread pool).

Matplotlib's font cache and mathtext parser are shared by every figure in a process; without
serialising the drawing, concurrent previews fail with 'invalid composite glyph', mathtext
ParseExceptions, or a segfault of the whole process (seen on COS associations with three x1dsum
products).
"""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from astropy.io import fits
from PIL import Image

from caldp.tasks.preview_spectra import write_spectrum_previews


def _x1d() -> fits.HDUList:
    n = 4096
    wave = np.stack([np.linspace(1400, 1600, n), np.linspace(1250, 1390, n)])
    flux = 1e-14 * (1 + 0.2 * np.sin(wave / 7.0))
    table = fits.BinTableHDU.from_columns(
        [
            fits.Column("SEGMENT", "4A", array=np.array(["FUVA", "FUVB"])),
            fits.Column("WAVELENGTH", f"{n}D", array=wave),
            fits.Column("FLUX", f"{n}E", array=flux),
            fits.Column("ERROR", f"{n}E", array=0.05 * flux),
            fits.Column("DQ_WGT", f"{n}E", array=np.ones_like(flux)),
        ]
    )
    primary = fits.PrimaryHDU()
    primary.header.update(INSTRUME="COS", DETECTOR="FUV", OPT_ELEM="G130M", CENWAVE=1291, TARGNAME="SIM")
    return fits.HDUList([primary, table])


def test_previews_from_many_threads_all_drawn(tmp_path):
    hdul = _x1d()
    bases = [f"l{k:03d}_x1d" for k in range(24)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        made = list(pool.map(lambda base: write_spectrum_previews(hdul, base, tmp_path), bases))
    for base, paths in zip(bases, made, strict=True):
        assert [p.name for p in paths] == [f"{base}.png", f"{base}_thumb.png"]
        with Image.open(paths[0]) as full, Image.open(paths[1]) as thumb:
            assert full.size == (1000, 500) and thumb.size == (128, 128)
