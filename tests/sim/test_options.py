"""simulate()'s options: quirks (references, switches, pixels), size mini and the EXPSTART override
(the engine tests in tests/engines/acs and wfc3_uvis run HSTCAL parity on them)."""

import numpy as np
import pytest
from astropy.io import fits

from caldp.sim import acs, simulate


def test_quirks_and_mini_only_where_simulated(tmp_path):
    with pytest.raises(ValueError, match="has no quirk"):
        simulate(tmp_path / "a", modes=("wfc3-ir",), quirks=("sinks",))
    with pytest.raises(ValueError, match="has no quirk"):
        simulate(tmp_path / "b", modes=("acs-wfc",), quirks=("glitter",))
    with pytest.raises(ValueError, match="'mini' is simulated for wfc3-uvis-asn only"):
        simulate(tmp_path / "c", modes=("acs-wfc",), size="mini")
    assert not any((tmp_path / d).exists() for d in "abc")


def test_quirks_and_mjd(tmp_path):
    """Each quirk names its reference and sets its switch; the flash is in the pixels (raw sky higher
    by about FLSHFILE × FLASHDUR / gain) and `mjd` is the first EXPSTART."""
    plain = simulate(tmp_path / "plain", modes=("acs-wfc",)).datasets[0]
    res = simulate(tmp_path / "q", modes=("acs-wfc",), quirks=acs.QUIRKS, mjd=53500.25)
    ds = res.datasets[0]
    refdir = res.crds_cache / "references" / "hst"
    h = fits.getheader(ds.input_path / f"{ds.name}_raw.fits")
    assert h["EXPSTART"] == 53500.25 and h["FLASHDUR"] == acs.FLASHDUR and h["FLASHSTA"] == "SUCCESSFUL"
    for switch, ref in (("SINKCORR", "SNKCFILE"), ("FLSHCORR", "FLSHFILE"), ("SHADCORR", "SHADFILE")):
        assert h[switch] == "PERFORM" and (refdir / h[ref].split("$")[1]).is_file()
    assert (refdir / h["DFLTFILE"].split("$")[1]).is_file()
    with fits.open(refdir / h["SNKCFILE"].split("$")[1]) as s:
        assert (s["SCI", 1].data == -2).sum() >= 30 and s["SCI", 1].data.shape == fits.getdata(
            ds.input_path / f"{ds.name}_raw.fits", "SCI", 1
        ).shape
    p = fits.getheader(plain.input_path / f"{plain.name}_raw.fits")
    assert p["SINKCORR"] == "OMIT" and p["FLSHCORR"] == "OMIT" and p["DFLTFILE"] == "N/A"
    with fits.open(refdir / h["FLSHFILE"].split("$")[1]) as f:
        flash = float(np.median(f["SCI", 1].data))
    chip = acs.setup("WFC", "small").chips[0]
    sky = [
        float(np.median(fits.getdata(d.input_path / f"{d.name}_raw.fits", "SCI", 1)[:, chip.trimx[0] :]))
        for d in (plain, ds)
    ]
    assert sky[1] - sky[0] == pytest.approx(flash * acs.FLASHDUR / acs.setup("WFC", "small").atodgn["A"], abs=1.5)
