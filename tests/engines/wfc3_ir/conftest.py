from astropy.io import fits

from caldp.sim import ir
from caldp.sim.core import simulate


def sim_ir(root, *, nsamp=None, quirks=ir.QUIRKS, mode="wfc3-ir", truth=False) -> dict:
    """The simulator's small WFC3/IR data set (IRSUB256) with `nsamp` reads and the ramp cases of
    `quirks` (saturating pixels, a pixel hit between many reads, spikes): raw (or association),
    members, references (``env``) and, with `truth`, each exposure's truth (count rate, cosmic rays,
    reference-level drift)."""
    res = simulate(root, modes=(mode,), size="small", nsamp=nsamp, quirks=quirks, truth=truth)
    ds = res.datasets[0]
    members = ds.members
    out = {
        "raw": ds.input_path / f"{members[0]}_raw.fits",
        "asn": ds.asn,
        "members": members,
        "env": {"iref": str(res.refdir) + "/"},
        "refdir": res.refdir,
        "seq": ir.sample_sequence("small", nsamp),
        "chip": ir.chip_for("small"),
    }
    if truth:
        exp = ds.truth["exposures"][members[0]]
        out["truth"] = {**exp, "rate": fits.getdata(exp["truth_file"], "SCI", 1)}
    return out


def ref_path(ds, keyword: str):
    """The reference file the raw header names (``iref$…``)."""
    return ds["refdir"] / fits.getval(ds["raw"], keyword).split("$", 1)[1]
