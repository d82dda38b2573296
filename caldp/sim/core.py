"""`simulate`: raw HST datasets, their reference files and a real CRDS cache in one directory."""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from astropy.time import Time

from . import acs, crdscache, cte, cte_wfc3, distortion, ir, wfc3
from .detector import make_image_refs
from .exposure import chip_origin, simulate_ccd
from .fitsutil import image_extension, primary, write, write_tar_gz
from .naming import dataset_names
from .products import write_asn, write_spt
from .scene import Pointing, make_starfield

log = logging.getLogger(__name__)

CCD_MODULES = {"acs": acs, "wfc3": wfc3}
MODES = (
    "acs-wfc-asn",
    "acs-wfc",
    "acs-hrc-asn",
    "wfc3-uvis-asn",
    "wfc3-ir",
    "wfc3-ir-asn",
    "acs-wfc-cte-asn",
    "wfc3-uvis-cte-asn",
    "wfc3-ir-rpt-asn",
)
SIZES = ("small", "full", "mini")
#: Modes simulated at size "mini" (a detector layout scaled down for fast tests; geometry.UVIS_MINI).
MINI_MODES = ("wfc3-uvis-asn",)
#: Random stream of each detector's reference images (independent of which modes are simulated).
REF_STREAMS = {"WFC": 1, "HRC": 2, "UVIS": 3, "IR": 4}


@dataclass(frozen=True, slots=True)
class ModeSpec:
    instrument: str  # "acs" | "wfc3"
    detector: str
    nexp: int
    memtype: str  # association member type ("" for a single exposure)
    product: str
    dithers: tuple[tuple[float, float], ...]
    exptime: float
    mjd: float
    cte: bool = False  # PCTECORR = PERFORM, CTE trails in the pixels, PCTETAB and DRKCFILE (caldp.sim.cte)


MODE_SPECS = {
    "acs-wfc-asn": ModeSpec("acs", "WFC", 2, "EXP-CRJ", "PROD-CRJ", ((0, 0), (0, 0)), 200.0, 60293.25),
    "acs-wfc": ModeSpec("acs", "WFC", 1, "", "", ((0, 0),), 300.0, 60294.25),
    "acs-hrc-asn": ModeSpec("acs", "HRC", 2, "EXP-CRJ", "PROD-CRJ", ((0, 0), (0, 0)), 200.0, 53510.25),
    "wfc3-uvis-asn": ModeSpec("wfc3", "UVIS", 2, "EXP-CRJ", "PROD-CRJ", ((0, 0), (0, 0)), 200.0, 60295.25),
    "wfc3-ir": ModeSpec("wfc3", "IR", 1, "", "", ((0, 0),), 0.0, 60296.25),
    "wfc3-ir-asn": ModeSpec("wfc3", "IR", 2, "EXP-DTH", "PROD-DTH", ((0, 0), (10.5, 7.5)), 0.0, 60297.25),
    "acs-wfc-cte-asn": ModeSpec("acs", "WFC", 2, "EXP-CRJ", "PROD-CRJ", ((0, 0), (0, 0)), 200.0, 60293.25, cte=True),
    # WF3CTE (caldp.sim.cte_wfc3); small is a subarray (UVIS2-C512C-SUB), corrected as calwf3 does subarrays
    "wfc3-uvis-cte-asn": ModeSpec("wfc3", "UVIS", 2, "EXP-CRJ", "PROD-CRJ", ((0, 0),) * 2, 200.0, 60296.25, cte=True),
    # two repeats at one pointing combined by RPTCORR (the _crj)
    "wfc3-ir-rpt-asn": ModeSpec("wfc3", "IR", 2, "EXP-RPT", "PROD-RPT", ((0, 0), (0, 0)), 0.0, 60298.25),
}

# COS TIME-TAG modes: simulated by caldp.sim.cos (make_dataset), accepted by simulate() by name; not in
# MODES ("all") while tests/sim assumes every MODES entry is a CCD/IR mode.
COS_MODES = {
    "cos-fuv-asn": ("FUV", 2, "EXP-FP", "PROD-FP", 60400.3),
    "cos-nuv": ("NUV", 1, "", "", 60401.3),
    "cos-nuv-image": ("NUV", 1, "", "", 60402.3),
}
MODE_SPECS.update({m: ModeSpec("cos", d, n, t, p, ((0, 0),), 0.0, mjd) for m, (d, n, t, p, mjd) in COS_MODES.items()})
# STIS modes: simulated by caldp.sim.stis (make_dataset), accepted by name like the COS modes.
STIS_MODES = {
    "stis-ccd-image": ("CCD", 2, "EXP-CRJ", "PROD-CRJ", 60410.3),
    "stis-ccd-spec": ("CCD", 2, "EXP-CRJ", "PROD-CRJ", 60411.3),
    "stis-mama-image": ("FUV-MAMA", 2, "EXP-RPT", "PROD-RPT", 60500.3),  # caldp.sim.stis_mama
    "stis-mama-echelle": ("FUV-MAMA", 1, "", "", 60510.3),  # caldp.sim.stis_echelle
}
MODE_SPECS.update(
    {m: ModeSpec("stis", d, n, t, p, ((0, 0),) * n, 300.0, mjd) for m, (d, n, t, p, mjd) in STIS_MODES.items()}
)


@dataclass(slots=True)
class SimDataset:
    """One simulated dataset: ``input_path`` is its directory (or ``.tar.gz`` with tar=True)."""

    name: str
    mode: str
    instrument: str
    input_path: Path
    files: list[Path]
    truth: dict | None = None

    @property
    def members(self) -> list[str]:
        """Rootnames of the exposures (``<root>_raw.fits``), sorted."""
        return sorted(f.name[: -len("_raw.fits")] for f in self.files if f.name.endswith("_raw.fits"))

    @property
    def asn(self) -> Path | None:
        """The association table, or None for a single exposure (directories, not tar files)."""
        return next((f for f in self.files if f.name.endswith("_asn.fits")), None)


@dataclass(slots=True)
class SimResult:
    datasets: list[SimDataset]
    crds_cache: Path
    datasets_txt: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def refdir(self) -> Path:
        """The directory holding every reference file (``jref``, ``iref``, …)."""
        return crdscache.references_dir(self.crds_cache)


def crds_env(cache_dir) -> dict[str, str]:
    """CRDS (server-less, read-only) and ``jref``/``iref``… settings for a simulated cache."""
    return crdscache.crds_env(cache_dir)


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), *keys])


def _date_time(mjd: float) -> tuple[str, str]:
    iso = Time(mjd, format="mjd", scale="utc").isot
    return iso[:10], iso[11:19]


class _RefStore:
    """Writes each detector configuration's references once per simulate() call."""

    def __init__(
        self,
        refdir: Path,
        seed: int,
        *,
        quirks: tuple[str, ...] = (),
        mjd: float | None = None,
        nsamp: int | None = None,
    ):
        self.refdir = refdir
        self.seed = seed
        self.quirks = tuple(quirks)  # simulate()'s options, read by the CCD/IR dataset makers
        self.mjd = mjd
        self.nsamp = nsamp
        self.entries: list[crdscache.RefEntry] = []
        self.done: dict = {}

    def once(self, key, write):
        """The value of `key`: ``write()`` returns ``(entries, value)`` and runs only the first time
        `key` is asked for in this simulate() call; its entries join the CRDS cache's."""
        if key not in self.done:
            entries, value = write()
            self.entries += entries
            self.done[key] = value
        return self.done[key]

    def ccd_quirks(self, instrument: str, setup, size: str):
        """References, raw cards and pixel effects of the quirks, once per detector and size."""
        key = ("quirks", instrument, setup.detector, size)
        if key not in self.done:
            rng = _rng(self.seed, 2000 + REF_STREAMS[setup.detector], SIZES.index(size))
            write = CCD_MODULES[instrument].write_quirk_references
            entries, refkw, cards, pixels = write(self.refdir, setup, rng, self.quirks)
            self.entries += entries
            self.done[key] = (refkw, cards, pixels)
        return self.done[key]

    def ccd(self, instrument: str, detector: str, size: str):
        key = (instrument, detector, size)
        if key not in self.done:
            module = CCD_MODULES[instrument]
            setup = module.setup(detector, size)
            refs = make_image_refs(_rng(self.seed, 1000 + REF_STREAMS[detector], SIZES.index(size)), setup)
            entries, refkw = module.write_references(self.refdir, setup, refs)
            self.entries += entries
            self.done[key] = (setup, refs, refkw)
        return self.done[key]

    def acs_cte(self, setup, refkw: dict, size: str) -> dict:
        """The ACS PCTETAB and CTE-corrected dark (once per size); their raw-header values."""
        key = ("acs-cte", setup.detector, size)
        if key not in self.done:
            dark = refkw["DARKFILE"].split("$", 1)[1]
            entries, kw = cte.write_references(
                self.refdir, dark, size=size, ccdamp=setup.ccdamp, ccdgain=setup.ccdgain, detector=setup.detector
            )
            self.entries += entries
            self.done[key] = kw
        return self.done[key]

    def wfc3_cte(self, refkw: dict, size: str) -> dict:
        """The WFC3/UVIS PCTETAB, BIACFILE and DRKCFILE (once per size); their raw-header values."""
        key = ("wfc3-cte", size)
        if key not in self.done:
            entries, kw = cte_wfc3.write_references(
                self.refdir,
                biasfile=refkw["BIASFILE"].split("$", 1)[1],
                darkfile=refkw["DARKFILE"].split("$", 1)[1],
                size=size,
            )
            self.entries += entries
            self.done[key] = kw
        return self.done[key]

    def ir(self, size: str):
        key = ("wfc3", "IR", size)
        if key not in self.done:
            refs = ir.make_refs(_rng(self.seed, 1000 + REF_STREAMS["IR"]))  # 1024² for every size
            entries, refkw = ir.write_references(self.refdir, size, refs, self.nsamp)
            self.entries += entries
            self.done[key] = (refs, refkw)
        return self.done[key]


@dataclass(frozen=True, slots=True)
class _IRSetup:
    chips: tuple
    scale: float = 0.1283
    sky_rate: float = 1.0
    psf_sigma: float = 0.9
    cr_rate: float = 2e-5


def _base_pointing(rng: np.random.Generator, setup) -> Pointing:
    xs, ys = [], []
    for chip in setup.chips:
        ox, oy = chip_origin(chip)
        ny, nx = chip.sci_shape
        xs += [ox, ox + nx]
        ys += [oy, oy + ny]
    centre = (0.5 * (min(xs) + max(xs)) + 1.0, 0.5 * (min(ys) + max(ys)) + 1.0)
    ra = float(rng.uniform(10.0, 350.0))
    dec = float(rng.uniform(-60.0, 60.0))
    return Pointing((ra, dec), centre, setup.scale, float(rng.uniform(0.0, 360.0)))


def _extent(setup, margin: float = 20.0) -> tuple[float, float, float, float]:
    xs, ys = [], []
    for chip in setup.chips:
        ox, oy = chip_origin(chip)
        ny, nx = chip.sci_shape
        xs += [ox, ox + nx]
        ys += [oy, oy + ny]
    return min(xs) - margin, max(xs) + margin, min(ys) - margin, max(ys) + margin


def _distortion(store: _RefStore, detector: str, refkw: dict, spec, date_obs, time_obs, mjd, chips, pointing):
    """The exposure's WCS through the simulated distortion model (caldp.sim.distortion)."""
    primary = {
        "INSTRUME": spec.instrument.upper(),
        "DETECTOR": detector,
        "DATE-OBS": date_obs,
        "TIME-OBS": time_obs,
        "EXPSTART": mjd,
    }
    origins = [chip_origin(c) for c in chips]
    return distortion.solve_exposure(detector, store.refdir, refkw, primary, chips, pointing, origins)


def _spec(mode: str, store: _RefStore) -> ModeSpec:
    spec = MODE_SPECS[mode]
    return spec if store.mjd is None else replace(spec, mjd=float(store.mjd))


def _ccd_dataset(outdir: Path, mode: str, index: int, size: str, seed: int, store: _RefStore, truth: bool):
    spec = _spec(mode, store)
    setup, refs, refkw = store.ccd(spec.instrument, spec.detector, size)
    if spec.cte:
        cte_kw = store.wfc3_cte(refkw, size) if spec.instrument == "wfc3" else store.acs_cte(setup, refkw, size)
        refkw = {**refkw, **cte_kw}
    quirk_cards, quirk_pixels = {}, None
    if store.quirks:
        quirk_kw, quirk_cards, quirk_pixels = store.ccd_quirks(spec.instrument, setup, size)
        refkw = {**refkw, **quirk_kw}
    name, members = dataset_names(mode, index, members=spec.nexp)
    ddir = outdir / "inputs" / name
    if ddir.exists():
        shutil.rmtree(ddir)
    ddir.mkdir(parents=True)
    mode_idx = MODES.index(mode)
    rng = _rng(seed, mode_idx, index)
    base = _base_pointing(rng, setup)
    area = np.prod([c.sci_shape for c in setup.chips], axis=1).sum()
    nstars = int(np.clip(area / 4000, 25, 600))
    stars = make_starfield(
        rng, base, _extent(setup), nstars, (2.0, 3000.0), n_bright=3, bright_rate=1.5 * setup.full_well / 10.0
    )
    files: list[Path] = []
    info = {"ra": stars.ra.tolist(), "dec": stars.dec.tolist(), "rate": stars.rate.tolist(), "exposures": {}}
    is_asn = bool(spec.memtype)
    asn_id = name.upper() if is_asn else "NONE"
    for k, root in enumerate(members):
        pointing = base.shifted(*spec.dithers[k])
        mjd = spec.mjd + k * (spec.exptime + 60.0) / 86400.0
        date_obs, time_obs = _date_time(mjd)
        erng = _rng(seed, mode_idx, index, 100 + k)
        darktime = spec.exptime + setup.overhead
        trail = None
        if spec.cte and spec.instrument == "wfc3":

            def trail(chip, electrons, mjd=mjd):
                return cte_wfc3.add_trails(electrons, ccdchip=chip.ccdchip, expstart=mjd)

        elif spec.cte:

            def trail(chip, electrons, mjd=mjd):
                return cte.add_trails(electrons, ccdchip=chip.ccdchip, ccdamp=setup.ccdamp, expstart=mjd)

        solution = _distortion(store, setup.detector, refkw, spec, date_obs, time_obs, mjd, setup.chips, pointing)
        pixels = simulate_ccd(
            erng,
            setup,
            refs,
            stars,
            pointing,
            exptime=spec.exptime,
            darktime=darktime,
            keep_truth=truth,
            trail=trail,
            placement=solution.chips,
            quirks=quirk_pixels,
        )
        module = CCD_MODULES[spec.instrument]
        pcards = module.primary_cards(
            setup,
            root.upper(),
            exptime=spec.exptime,
            expstart=mjd,
            crsplit=spec.nexp if spec.memtype == "EXP-CRJ" else 1,
            asn_id=asn_id,
            asn_mtyp=spec.memtype or "N/A",
            refkw=refkw,
            date_obs=date_obs,
            time_obs=time_obs,
            targ=base.crval,
            chips=setup.chips,
        )
        pcards["PA_V3"] = solution.pa_v3
        pcards.update(quirk_cards)
        if spec.cte:
            pcards["PCTECORR"] = "PERFORM"
            if spec.instrument == "wfc3":
                pcards.update(cte_wfc3.RAW_KEYS)
        files.append(write(module.raw_hdus(setup, pcards, pixels, root.upper()), ddir / f"{root}_raw.fits"))
        files.append(
            write_spt(
                ddir / f"{root}_spt.fits",
                root,
                spec.instrument.upper(),
                setup.detector,
                {"PROPOSID": 17001, "EXPSTART": mjd},
            )
        )
        info["exposures"][root] = {
            "chips": _chip_info(setup.chips, pixels),
            "exptime": spec.exptime,
            "darktime": darktime,
        }
        if truth:
            info["exposures"][root]["truth_file"] = _write_truth(outdir, name, root, setup.chips, pixels)
    if is_asn:
        files.insert(0, _write_asn(ddir, name, spec, setup.detector, members))
    return name, ddir, files, (info if truth else None)


def _chip_info(chips, pixels) -> list[dict]:
    """Per chip: where the stars fell, how many cosmic rays and saturated pixels it got."""
    return [
        {
            "extver": c.extver,
            "ccdchip": c.ccdchip,
            "x": p.star_x.tolist(),
            "y": p.star_y.tolist(),
            "n_cr": p.n_cr,
            "n_saturated": p.n_saturated,
        }
        for c, p in zip(chips, pixels, strict=True)
    ]


def _write_truth(outdir: Path, name: str, root: str, chips, pixels) -> str:
    """``truth/<name>/<root>_truth.fits``: the noiseless rate of every chip; returns its path."""
    hdus = [primary({"ROOTNAME": root.upper(), "BUNIT": "ELECTRONS/S", "COMMENT": "noiseless sky + stars"})]
    hdus += [
        image_extension("SCI", c.extver, p.truth_rate, {"CCDCHIP": c.ccdchip, **p.wcs_cards})
        for c, p in zip(chips, pixels, strict=True)
    ]
    return str(write(hdus, outdir / "truth" / name / f"{root}_truth.fits"))


def _write_asn(ddir: Path, name: str, spec: ModeSpec, detector: str, members) -> Path:
    return write_asn(
        ddir / f"{name}_asn.fits",
        name,
        spec.instrument.upper(),
        detector,
        members,
        memtype=spec.memtype,
        product_type=spec.product,
    )


def _ir_dataset(outdir: Path, mode: str, index: int, size: str, seed: int, store: _RefStore, truth: bool):
    spec = _spec(mode, store)
    refs, refkw = store.ir(size)
    setup = _IRSetup((ir.chip_for(size),))
    name, members = dataset_names(mode, index, members=spec.nexp)
    ddir = outdir / "inputs" / name
    if ddir.exists():
        shutil.rmtree(ddir)
    ddir.mkdir(parents=True)
    mode_idx = MODES.index(mode)
    rng = _rng(seed, mode_idx, index)
    base = _base_pointing(rng, setup)
    sy, sx = setup.chips[0].sci_shape
    stars = make_starfield(
        rng, base, _extent(setup), int(np.clip(sy * sx / 2500, 25, 400)), (5.0, 5000.0), n_bright=3, bright_rate=2.0e5
    )
    info = {"ra": stars.ra.tolist(), "dec": stars.dec.tolist(), "rate": stars.rate.tolist(), "exposures": {}}
    files: list[Path] = []
    is_asn = bool(spec.memtype)
    asn_id = name.upper() if is_asn else "NONE"
    seq = ir.sample_sequence(size, store.nsamp)
    for k, root in enumerate(members):
        pointing = base.shifted(*spec.dithers[k])
        mjd = spec.mjd + k * (float(seq.times[-1]) + 120.0) / 86400.0
        date_obs, time_obs = _date_time(mjd)
        solution = _distortion(store, "IR", refkw, spec, date_obs, time_obs, mjd, setup.chips, pointing)
        px = ir.simulate_ramp(
            _rng(seed, mode_idx, index, 100 + k),
            size,
            refs,
            stars,
            pointing,
            sky_rate=setup.sky_rate,
            psf_sigma=setup.psf_sigma,
            cr_rate=setup.cr_rate,
            keep_truth=truth,
            placement=solution.chips[0],
            nsamp=store.nsamp,
            quirks=store.quirks,
        )
        pcards = ir.primary_cards(
            size,
            root.upper(),
            expstart=mjd,
            asn_id=asn_id,
            asn_mtyp=spec.memtype or "N/A",
            refkw=refkw,
            date_obs=date_obs,
            time_obs=time_obs,
            targ=base.crval,
            nsamp=store.nsamp,
        )
        pcards["PA_V3"] = solution.pa_v3
        files.append(write(ir.raw_hdus(size, pcards, px, root.upper(), store.nsamp), ddir / f"{root}_raw.fits"))
        files.append(write_spt(ddir / f"{root}_spt.fits", root, "WFC3", "IR", {"PROPOSID": 17003, "EXPSTART": mjd}))
        info["exposures"][root] = {
            "chips": _chip_info(setup.chips, [px]),
            "exptime": float(seq.times[-1]),
            "dither": list(spec.dithers[k]),
            "cosmic_rays": [a.tolist() for a in px.cosmic_rays],  # y, x (science area), read index, e⁻
            "drift": px.drift.tolist(),  # reference level of each read (DN, time order)
        }
        if truth:
            info["exposures"][root]["truth_file"] = _write_truth(outdir, name, root, setup.chips, [px])
    if is_asn:
        files.insert(0, _write_asn(ddir, name, spec, "IR", members))
    return name, ddir, files, (info if truth else None)


def _stis_maker(mode: str):
    """The ``make_dataset`` of the module that simulates STIS `mode` (one module per family)."""
    from . import stis, stis_echelle, stis_mama, stis_spec

    for module in (stis, stis_spec, stis_mama, stis_echelle):
        if mode in module.MODES:
            return module.make_dataset
    raise ValueError(f"no STIS simulator for mode {mode!r}")


def simulate(
    outdir,
    modes=("acs-wfc-asn",),
    size: str = "small",
    seed: int = 1,
    count: int = 1,
    tar: bool = False,
    truth: bool = False,
    quirks: tuple[str, ...] = (),
    mjd: float | None = None,
    nsamp: int | None = None,
) -> SimResult:
    """Simulate `count` datasets for each of `modes` under `outdir` (see module docs of caldp.sim).

    `quirks`: optional features with their references, switches and pixel effects; ACS
    (:data:`caldp.sim.acs.QUIRKS`): ``sinks`` (SINKCORR), ``flash`` (FLSHCORR), ``shading`` (SHADCORR),
    ``delta-flat`` (DFLTFILE); WFC3/UVIS (:data:`caldp.sim.wfc3.QUIRKS`): ``sinks``, ``flash``; WFC3/IR
    (:data:`caldp.sim.ir.QUIRKS`): ramp cases (saturating pixels, many CRs, spikes). `mjd`: the first
    exposure's EXPSTART instead of the mode's (e.g. before SM4, MJD 54962, for ACS/WFC's per-amp
    overscan fit). Size ``mini`` (:data:`MINI_MODES`): the UVIS full-frame layout scaled down. `nsamp`:
    reads of the IR modes' MULTIACCUM sequence (≥ 2) instead of the size's own count."""
    outdir = Path(outdir)
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, not {size!r}")
    modes = tuple(modes)
    if size == "mini" and set(modes) - set(MINI_MODES):
        raise ValueError(f"size 'mini' is simulated for {', '.join(MINI_MODES)} only, not {', '.join(modes)}")
    unknown = [m for m in modes if m not in MODES and m not in COS_MODES and m not in STIS_MODES]
    if unknown:
        known = MODES + tuple(COS_MODES) + tuple(STIS_MODES)
        raise ValueError(f"unknown mode(s) {', '.join(unknown)}; choose from {', '.join(known)}")
    if nsamp is not None:
        ir.sample_sequence(size, nsamp)  # refuses fewer than 2 reads
    quirks = tuple(quirks)
    for m in modes if quirks else ():
        spec = MODE_SPECS[m]
        module = ir if spec.detector == "IR" else CCD_MODULES.get(spec.instrument)
        known = module.QUIRKS if module is not None else ()
        if set(quirks) - set(known):
            raise ValueError(f"mode {m} has no quirk(s) {', '.join(sorted(set(quirks) - set(known)))}")
    outdir.mkdir(parents=True, exist_ok=True)
    cache = outdir / "crds_cache"
    refdir = crdscache.references_dir(cache)
    refdir.mkdir(parents=True, exist_ok=True)
    store = _RefStore(refdir, seed, quirks=quirks, mjd=mjd, nsamp=nsamp)
    datasets: list[SimDataset] = []
    for mode in modes:
        for index in range(count):
            t0 = time.perf_counter()
            make = _ir_dataset if MODE_SPECS[mode].detector == "IR" else _ccd_dataset
            if MODE_SPECS[mode].instrument == "cos":
                from .cos import make_dataset as make
            if MODE_SPECS[mode].instrument == "stis":
                make = _stis_maker(mode)
            name, ddir, files, info = make(outdir, mode, index, size, seed, store, truth)
            if tar:
                target = write_tar_gz(ddir, outdir / "inputs" / f"{name}.tar.gz")
                shutil.rmtree(ddir)
                ds = SimDataset(name, mode, MODE_SPECS[mode].instrument, target, [target], info)
            else:
                ds = SimDataset(name, mode, MODE_SPECS[mode].instrument, ddir, files, info)
            datasets.append(ds)
            log.info("simulated %s (%s, %s) in %.2f s", name, mode, size, time.perf_counter() - t0)
    crdscache.write_cache(cache, store.entries)
    listing = outdir / "datasets.txt"
    listing.write_text("".join(f"{d.name}\n" for d in datasets))
    return SimResult(datasets, cache, listing, crds_env(cache))
