"""Header and reference-file builders shared by the simulator's instrument modes (``acs``, ``wfc3``, ``ir``).

- :class:`RefWriter` writes one detector's reference files (a primary header with TELESCOP,
  INSTRUME, DETECTOR, FILETYPE, USEAFTER, PEDIGREE, DESCRIP), names them, and collects their rmap
  entries and the raw-header keywords that point at them. A mode adds a reference type with one
  :meth:`RefWriter.add` call; :meth:`RefWriter.add_standard_tables` writes CRREJTAB, IMPHTTAB and
  MDRIZTAB, which every mode has.
- Raw primary headers are assembled from blocks in HSTCAL's keyword order: :func:`exposure_cards`
  (file and target), :func:`exposure_time_cards`, :func:`association_cards`, :func:`amp_cards`,
  :func:`readout_cards`, :func:`flash_off_cards`, and :func:`finish_cards` (switches, reference
  keywords, N/A for the unused references); :func:`raw_chip_hdus` the whole raw CCD file.
- :func:`chip_ref_cards`, :func:`raw_sci_cards`: the geometry keywords of one chip in a reference
  image and in a raw SCI extension; :func:`full_chip_constant_imset` a constant full-chip imset;
  :func:`ccdtab_amp_columns` and :func:`bpixtab_columns` the per-amp CCDTAB and the BPIXTAB columns;
  :func:`sink_map` a SNKCFILE image with sink pixels.

>>> exposure_time_cards("2024-01-01", "00:00:00", 60000.0, 86.4)["EXPEND"]
60000.001
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .crdscache import RefEntry
from .fitsutil import imset, null_extension, primary, write
from .naming import RefNamer
from .reftables import imphttab_hdus, mdriztab_hdu

#: PEDIGREE of the simulated references, per instrument
PEDIGREE = {"acs": "INFLIGHT 01/01/2002 01/01/2026", "wfc3": "INFLIGHT 14/05/2009 01/01/2026"}


def ref_primary(instrument: str, detector: str, filetype: str, descrip: str, useafter: str, **cards):
    """The primary HDU of a simulated reference file (`cards` added after the standard ones)."""
    base = {
        "TELESCOP": "HST",
        "INSTRUME": instrument.upper(),
        "DETECTOR": detector,
        "FILETYPE": filetype,
        "USEAFTER": useafter,
        "PEDIGREE": PEDIGREE[instrument],
        "DESCRIP": descrip[:67],
        "COMMENT": "Simulated by caldp.sim",
    }
    base.update(cards)
    return primary(base)


class RefWriter:
    """Writes the reference files of one (instrument, detector, size) into `refdir`.

    ``entries`` collects the rmap entries (matched on DETECTOR plus each file's `match`), ``refkw``
    the raw-header keyword → file name of the references a raw file names.
    """

    def __init__(
        self, refdir: Path, instrument: str, detector: str, size: str, *, useafter: str, descrip: str, series: str = "a"
    ):
        self.refdir = Path(refdir)
        self.instrument = instrument
        self.detector = detector
        self.useafter = useafter
        self.descrip = descrip  # default DESCRIP prefix: "<descrip> <kind>"
        self.namer = RefNamer(instrument, detector, size, series)
        self.entries: list[RefEntry] = []
        self.refkw: dict[str, str] = {}

    def add(self, kind: str, suffix: str, filetype: str, hdus, match=None, useafter=None, descrip="", **cards) -> str:
        """Write one reference (`kind`: its CRDS type, `suffix`: the name's) and return its name."""
        useafter = useafter or self.useafter
        name = self.namer.name(suffix)
        head = ref_primary(
            self.instrument, self.detector, filetype, descrip or f"{self.descrip} {kind}", useafter, **cards
        )
        write([head, *hdus], self.refdir / name)
        self.entries.append(
            RefEntry(self.instrument, kind, name, {"DETECTOR": self.detector, **(match or {})}, useafter)
        )
        return name

    def add_standard_tables(self, crrejtab, phot: dict, photcols: tuple[str, ...], *, crrej_match=None) -> None:
        """CRREJTAB (the `crrejtab` HDU), IMPHTTAB (`phot` rows, `photcols` extensions) and MDRIZTAB."""
        self.refkw["CRREJTAB"] = self.add("crrejtab", "crr", "COSMIC RAY REJECTION", [crrejtab], match=crrej_match)
        self.refkw["IMPHTTAB"] = self.add(
            "imphttab", "imp", "IMAGE PHOTOMETRY TABLE", imphttab_hdus(phot, photcols), PARNUM=1, PHOTZPT=-21.1
        )
        self.refkw["MDRIZTAB"] = self.add("mdriztab", "mdz", "MULTIDRIZZLE PARAMETERS", [mdriztab_hdu()])

    def header_values(self, path_var: str) -> dict[str, str]:
        """The raw-header values: ``{keyword: "<path_var>$<name>"}`` (``jref``, ``iref``)."""
        return {k: f"{path_var}${v}" for k, v in self.refkw.items()}


# ---------------------------------------------------------------------------------- raw headers


def exposure_cards(
    instrument: str, root: str, filename: str, *, nextend: int, targ: tuple[float, float], proposid: int
) -> dict:
    """SIMPLE … LINENUM: the file, the instrument and the target."""
    return {
        "SIMPLE": True,
        "DATE": "2026-01-01",
        "NEXTEND": nextend,
        "FILENAME": filename,
        "FILETYPE": "SCI",
        "TELESCOP": "HST",
        "INSTRUME": instrument.upper(),
        "EQUINOX": 2000.0,
        "ROOTNAME": root,
        "IMAGETYP": "EXT",
        "PRIMESI": instrument.upper(),
        "TARGNAME": "CALDP-SIM-FIELD",
        "RA_TARG": targ[0],
        "DEC_TARG": targ[1],
        "PROPOSID": proposid,
        "LINENUM": "01.001",
    }


def exposure_time_cards(date_obs: str, time_obs: str, expstart: float, exptime: float) -> dict:
    """DATE-OBS … TEXPTIME (EXPEND = EXPSTART + EXPTIME in days)."""
    return {
        "DATE-OBS": date_obs,
        "TIME-OBS": time_obs,
        "EXPSTART": expstart,
        "EXPEND": expstart + exptime / 86400.0,
        "EXPTIME": exptime,
        "TEXPTIME": exptime,
    }


def association_cards(asn_id: str, asn_mtyp: str) -> dict:
    """ASN_ID, ASN_TAB, ASN_MTYP and an empty CAL_VER."""
    return {
        "ASN_ID": asn_id,
        "ASN_TAB": f"{asn_id.lower()}_asn.fits" if asn_id != "NONE" else "NONE",
        "ASN_MTYP": asn_mtyp,
        "CAL_VER": "",
    }


def amp_cards(*, biaslev: bool = True) -> dict:
    """ATODGN/READNSE(/BIASLEV) A–D = 0: the calibration fills them in."""
    cards = {}
    for a in "ABCD":
        cards[f"ATODGN{a}"] = 0.0
        cards[f"READNSE{a}"] = 0.0
        if biaslev:
            cards[f"BIASLEV{a}"] = 0.0
    return cards


def readout_cards(setup_) -> dict:
    """A CCD setup's readout keywords: amplifiers, gain, offsets (3), no binning."""
    return {
        "CCDAMP": setup_.ccdamp,
        "CCDGAIN": setup_.ccdgain,
        "CCDOFSTA": 3,
        "CCDOFSTB": 3,
        "CCDOFSTC": 3,
        "CCDOFSTD": 3,
        "BINAXIS1": 1,
        "BINAXIS2": 1,
    }


def flash_off_cards() -> dict:
    """No post-flash; shutter A."""
    return {
        "FLASHDUR": 0.0,
        "FLASHCUR": "OFF",
        "FLASHSTA": "NOT PERFORMED",
        "SHUTRPOS": "A",
    }


def finish_cards(cards: dict, switches: dict, refkw: dict, unused_refs, *, crsplit: int | None = None) -> dict:
    """Add the calibration switches (CRCORR = PERFORM for a CR-SPLIT when `crsplit` is given), the
    reference keywords and N/A for every unused reference; returns `cards`."""
    cards.update(switches)
    if crsplit is not None:
        cards["CRCORR"] = "PERFORM" if crsplit > 1 else "OMIT"
    cards.update(refkw)
    for k in unused_refs:
        cards.setdefault(k, "N/A")
    return cards


def raw_sci_cards(chip, root: str, wcs_cards: dict, **extra) -> dict:
    """The SCI header of one raw CCD chip: geometry, SDQFLAGS, `extra`, then the aperture and WCS."""
    ltv1, ltv2 = chip.ltv
    ny, nx = chip.raw_shape
    return {
        "BUNIT": "COUNTS",
        "EXPNAME": root,
        "CCDCHIP": chip.ccdchip,
        "LTV1": ltv1,
        "LTV2": ltv2,
        "LTM1_1": 1.0,
        "LTM2_2": 1.0,
        "SIZAXIS1": nx,
        "SIZAXIS2": ny,
        "BINAXIS1": 1,
        "BINAXIS2": 1,
        "SDQFLAGS": 31743,
        "NCOMBINE": 1,
        **extra,
        "PA_APER": wcs_cards["ORIENTAT"],
        "RA_APER": wcs_cards["CRVAL1"],
        "DEC_APER": wcs_cards["CRVAL2"],
        **wcs_cards,
    }


def raw_chip_hdus(setup_, pcards: dict, pixels, root: str, **extra) -> list:
    """A raw CCD file's HDUs: the primary header `pcards`, then one SCI/ERR/DQ imset per chip of
    `setup_` (its raw pixels in `pixels`, :func:`raw_sci_cards` with `extra`)."""
    hdus = [primary(pcards)]
    for chip, px in zip(setup_.chips, pixels, strict=True):
        cards = raw_sci_cards(chip, root, px.wcs_cards, **extra)
        hdus += imset(chip.extver, px.raw, None, None, shape=chip.raw_shape, cards=cards)
    return hdus


# ------------------------------------------------------------------------------ reference parts


def chip_ref_cards(chip) -> tuple[dict, dict]:
    """(raw-format cards, trimmed-science cards) of a chip's reference imset: CCDCHIP, LTV, LTM."""
    ltv1, ltv2 = chip.ltv
    raw = {"CCDCHIP": chip.ccdchip, "LTV1": ltv1, "LTV2": ltv2, "LTM1_1": 1.0, "LTM2_2": 1.0}
    sci = {
        "CCDCHIP": chip.ccdchip,
        "LTV1": 0.0 - chip.corner[0],
        "LTV2": 0.0 - chip.corner[1],
        "LTM1_1": 1.0,
        "LTM2_2": 1.0,
    }
    return raw, sci


def full_chip_constant_imset(full_chips, ext: int, chip, values: tuple) -> list:
    """SCI, ERR, DQ null extensions of the full-frame chip (in `full_chips`) with `chip`'s CCDCHIP,
    holding the constants `values` (full-frame references such as SATUFILE and SNKCFILE)."""
    full = {c.ccdchip: c for c in full_chips}[chip.ccdchip]
    cards, _ = chip_ref_cards(full)
    return [null_extension(n, ext, full.raw_shape, v, cards) for n, v in zip(("SCI", "ERR", "DQ"), values, strict=True)]


def ccdtab_amp_columns(amps: list[dict], *, ccdofst: int = 3) -> dict:
    """CCDOFST, CCDBIAS, ATODGN, READNSE A–D of CCDTAB rows; `amps`: per row, the dicts ``ccdbias``,
    ``atodgn``, ``readnse`` keyed by amp letter."""
    cols = {f"CCDOFST{a}": ("J", [ccdofst] * len(amps)) for a in "ABCD"}
    for name, key in (("CCDBIAS", "ccdbias"), ("ATODGN", "atodgn"), ("READNSE", "readnse")):
        for a in "ABCD":
            cols[f"{name}{a}"] = ("E", [r[key][a] for r in amps])
    return cols


def bpixtab_columns(rows) -> dict:
    """PIX1, PIX2, LENGTH, AXIS, VALUE, CCDCHIP of BPIXTAB `rows` (tuples in that order)."""
    return {
        "PIX1": ("J", [r[0] for r in rows]),
        "PIX2": ("J", [r[1] for r in rows]),
        "LENGTH": ("J", [r[2] for r in rows]),
        "AXIS": ("J", [r[3] for r in rows]),
        "VALUE": ("I", [r[4] for r in rows]),
        "CCDCHIP": ("J", [r[5] for r in rows]),
    }


def sink_map(rng: np.random.Generator, chip, n: int, step: int, sink: float = -2.0) -> np.ndarray:
    """SNKCFILE image of one chip at raw size: `n` sinks each with the pixel read out before it (-1)
    and a trail upstream (charge thresholds 400, 250, 120, 40); `step` = +1 when the readout is at
    row 0 (ACS extver 1, UVIS chip 2), -1 otherwise. `sink`: the sink pixels' value, -2 for calacs
    (dosink.c: < -1), for calwf3 the MJD the sink appeared (sink.c: > 50000 and before EXPSTART)."""
    m = np.zeros(chip.raw_shape, np.float32)
    rows = chip.raw_rows()
    ys = rng.integers(rows.start + 5, rows.stop - 5, n)
    xs = chip.raw_cols()[rng.integers(5, chip.sci_shape[1] - 5, n)]
    m[ys - step, xs] = -1.0
    m[ys, xs] = sink
    for k, v in enumerate((400.0, 250.0, 120.0, 40.0), start=1):
        m[ys + k * step, xs] = v
    return m
