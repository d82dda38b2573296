"""A real, server-less CRDS cache for the simulated references (see crds-offline.md).

Layout: ``config/hst/server_config``, ``mappings/hst/`` (one ``.pmap``, one ``.imap`` per
instrument, one ``.rmap`` per reference type) and ``references/hst/`` (flat). Each rmap
matches on the parkeys of the installed ``crds`` type specification (``crds.hst.TYPES``), with
``N/A`` ("any") for parameters the simulation does not vary, then UseAfter on DATE-OBS/TIME-OBS.
Checksums are written by crds's own ``crds.refactoring.checksum``.

>>> rmap_name("acs", "biasfile")
'hst_acs_biasfile_0001.rmap'
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

SERIAL = "0001"
PMAP = f"hst_{SERIAL}.pmap"
SERVER_URL = "https://hst-serverless-mode.stsci.edu"
REF_VARS = {"acs": "jref", "wfc3": "iref", "stis": "oref", "cos": "lref"}
HOOKLESS = {"precondition_header": "none", "fallback_header": "none"}


def rmap_name(instrument: str, filekind: str) -> str:
    return f"hst_{instrument}_{filekind}_{SERIAL}.rmap"


def imap_name(instrument: str) -> str:
    return f"hst_{instrument}_{SERIAL}.imap"


@dataclass(frozen=True, slots=True)
class RefEntry:
    """One reference in an rmap: its match values (parkey → value, missing = N/A) and UseAfter."""

    instrument: str
    filekind: str
    filename: str
    match: dict = field(default_factory=dict)
    useafter: str = "1991-01-01 00:00:00"


def _spec(instrument: str, filekind: str) -> dict:
    from crds.hst import TYPES

    return TYPES.unified_defs[instrument][filekind]


def match_parkeys(instrument: str, filekind: str) -> tuple[str, ...]:
    """Match parameters (without DATE-OBS/TIME-OBS) of a type, from crds's HST type specs."""
    parkey = _spec(instrument, filekind)["parkey"]
    if parkey and isinstance(parkey[0], (list, tuple)):
        parkey = parkey[0]
    return tuple(str(p).upper() for p in parkey)


def _tuple_text(values) -> str:
    inner = ", ".join(repr(v) for v in values)
    return f"({inner},)" if len(values) == 1 else f"({inner})"


def rmap_text(instrument: str, filekind: str, entries: list[RefEntry]) -> str:
    spec = _spec(instrument, filekind)
    parkeys = match_parkeys(instrument, filekind)
    header = {
        "derived_from": "caldp.sim",
        "filekind": filekind.upper(),
        "filetype": str(spec.get("filetype", "")).upper(),
        "instrument": instrument.upper(),
        "mapping": "REFERENCE",
        "name": rmap_name(instrument, filekind),
        "observatory": "HST",
        "parkey": (parkeys, ("DATE-OBS", "TIME-OBS")),
        "reffile_format": str(spec.get("reffile_format", "image")).upper(),
        "reffile_required": str(spec.get("reffile_required", "none")).upper(),
        "reffile_switch": str(spec.get("reffile_switch", "none")).upper(),
        "rmap_relevance": spec.get("rmap_relevance", "ALWAYS"),
        "sha1sum": "0",
        "suffix": spec.get("suffix", ""),
        "text_descr": spec.get("text_descr", ""),
    }
    if spec.get("extra_keys"):  # header keywords the type's hooks read besides the parkeys
        header["extra_keys"] = tuple(str(k).upper() for k in spec["extra_keys"])
    if spec.get("parkey_relevance"):
        header["parkey_relevance"] = {k.upper(): v for k, v in spec["parkey_relevance"].items()}
    if (instrument, filekind) == ("acs", "biasfile"):
        header["hooks"] = dict(HOOKLESS)  # match the simulated headers directly, no CDBS rewriting
    lines = ["header = {"]
    for key in sorted(header):
        lines.append(f"    {key!r} : {header[key]!r},")
    lines += ["}", "", "selector = Match({"]
    groups: dict[tuple, list[RefEntry]] = defaultdict(list)
    for e in entries:
        key = tuple(str(e.match.get(p, "N/A")) for p in parkeys)
        groups[key].append(e)
    for key in sorted(groups):
        lines.append(f"    {_tuple_text(key)} : UseAfter({{")
        by_date = {e.useafter: e.filename for e in groups[key]}  # one file per date (the last given)
        for useafter in sorted(by_date):
            lines.append(f"        {useafter!r} : {by_date[useafter]!r},")
        lines.append("    }),")
    lines.append("})")
    return "\n".join(lines) + "\n"


def imap_text(instrument: str, filekinds: list[str]) -> str:
    lines = [
        "header = {",
        "    'derived_from' : 'caldp.sim',",
        f"    'instrument' : {instrument.upper()!r},",
        "    'mapping' : 'INSTRUMENT',",
        f"    'name' : {imap_name(instrument)!r},",
        "    'observatory' : 'HST',",
        "    'parkey' : ('REFTYPE',),",
        "    'sha1sum' : '0',",
        "}",
        "",
        "selector = {",
    ]
    lines += [f"    {k!r} : {rmap_name(instrument, k)!r}," for k in sorted(filekinds)]
    lines.append("}")
    return "\n".join(lines) + "\n"


def pmap_text(instruments: list[str]) -> str:
    lines = [
        "header = {",
        "    'derived_from' : 'caldp.sim',",
        "    'mapping' : 'PIPELINE',",
        f"    'name' : {PMAP!r},",
        "    'observatory' : 'HST',",
        "    'parkey' : ('INSTRUME',),",
        "    'sha1sum' : '0',",
        "}",
        "",
        "selector = {",
    ]
    lines += [f"    {i.upper()!r} : {imap_name(i)!r}," for i in sorted(instruments)]
    lines.append("}")
    return "\n".join(lines) + "\n"


def server_config() -> str:
    cfg = {
        "observatory": "hst",
        "operational_context": PMAP,
        "edit_context": PMAP,
        "bad_files": "",
        "bad_files_list": [],
        "last_synced": "2026-01-01 00:00:00",
        "force_remote_mode": False,
        "effective_mode": "local",
    }
    return repr(cfg) + "\n"


def _write_checksums(paths: list[Path]) -> None:
    """Rewrite each mapping's sha1sum the way ``crds checksum`` does (``Mapping.write`` recomputes it).

    ``crds.refactoring.checksum.update_checksum`` first re-parses the file with the certify
    grammar to look for duplicate match keys (≈0.5 s per mapping); the selectors written here
    have unique keys by construction, so only the rewrite is done.
    """
    from crds.core import rmap

    for path in paths:
        rmap.Mapping.from_file(str(path), ignore_checksum=True).write()
        if "'sha1sum' : '0'" in path.read_text():
            raise RuntimeError(f"crds checksum did not update {path}")


def references_dir(cache: Path) -> Path:
    return Path(cache) / "references" / "hst"


MANIFEST = "caldp_sim_references.json"


def _merge_manifest(cache: Path, entries: list[RefEntry]) -> list[RefEntry]:
    """Entries of earlier simulate() calls into this cache (still on disk) plus `entries`, by file name."""
    path = cache / MANIFEST
    merged: dict[str, RefEntry] = {}
    if path.is_file():
        for item in json.loads(path.read_text()):
            if (references_dir(cache) / item["filename"]).is_file():
                merged[item["filename"]] = RefEntry(**item)
    for e in entries:
        merged[e.filename] = e
    out = [merged[k] for k in sorted(merged)]
    path.write_text(json.dumps([asdict(e) for e in out], indent=1, sort_keys=True) + "\n")
    return out


#: filename of an rmap row that assigns no reference (crds bestrefs writes ``N/A`` into the header)
NOT_APPLICABLE = "N/A"


def detector_na_rows(entries: list[RefEntry], instrument: str = "stis") -> list[RefEntry]:
    """``N/A`` rows so that every ALWAYS-relevant rmap of `instrument` matches every simulated detector.

    The STIS modes write their references per detector (``stis-ccd-spec`` a CCD PHOTTAB,
    ``stis-mama-echelle`` a FUV-MAMA one); crds bestrefs looks up an ALWAYS-relevant type for
    every dataset, so with the echelle but not the CCD spectroscopic mode the CCD image's
    PHOTTAB lookup failed ("value='CCD' is not in ['FUV-MAMA']"). The simulated detectors are
    the DETECTOR values of the instrument's ALWAYS-relevant entries (a detector-specific type
    such as the NUV-MAMA TDCTAB does not count); a type matching on DETECTOR gets one ``N/A``
    row (other parkeys N/A) per such detector none of its rows matches. Nothing is added when
    every detector is matched, so those caches are unchanged.
    """
    always = {}
    for e in entries:
        if e.instrument == instrument and e.filekind not in always:
            always[e.filekind] = str(_spec(instrument, e.filekind).get("rmap_relevance", "ALWAYS")).upper() == "ALWAYS"
    chosen = [e for e in entries if e.instrument == instrument and always[e.filekind]]
    detectors = {str(e.match["DETECTOR"]) for e in chosen if str(e.match.get("DETECTOR", "N/A")) != "N/A"}
    rows = []
    for kind in sorted(k for k, a in always.items() if a and "DETECTOR" in match_parkeys(instrument, k)):
        matched = {str(e.match.get("DETECTOR", "N/A")) for e in chosen if e.filekind == kind}
        if "N/A" in matched:  # a row for any detector
            continue
        for det in sorted(detectors - matched):
            rows.append(RefEntry(instrument, kind, NOT_APPLICABLE, {"DETECTOR": det}))
    return rows


def write_cache(cache: Path, entries: list[RefEntry]) -> Path:
    """Write config and mappings for `entries` (references already in ``references/hst``)."""
    cache = Path(cache)
    maps = cache / "mappings" / "hst"
    cfg = cache / "config" / "hst"
    refs = references_dir(cache)
    for d in (maps, cfg, refs):
        d.mkdir(parents=True, exist_ok=True)
    entries = _merge_manifest(cache, entries)
    entries += detector_na_rows(entries)  # after the merge: earlier calls' detectors count too
    for old in maps.glob("hst_*map"):
        old.unlink()
    by_kind: dict[tuple[str, str], list[RefEntry]] = defaultdict(list)
    for e in entries:
        by_kind[(e.instrument, e.filekind)].append(e)
    instruments = sorted({i for i, _ in by_kind})
    written = []
    for (instr, kind), group in sorted(by_kind.items()):
        path = maps / rmap_name(instr, kind)
        path.write_text(rmap_text(instr, kind, group))
        written.append(path)
    for instr in instruments:
        path = maps / imap_name(instr)
        path.write_text(imap_text(instr, [k for i, k in by_kind if i == instr]))
        written.append(path)
    (maps / PMAP).write_text(pmap_text(instruments))
    written.append(maps / PMAP)
    _write_checksums(written)
    (refs / "ref_cache_subdir_mode").write_text("flat\n")
    (cfg / "server_config").write_text(server_config())
    log.info("CRDS cache %s: %d rmaps for %s", cache, len(by_kind), ", ".join(instruments))
    return cache


def crds_env(cache_dir) -> dict[str, str]:
    """Environment for server-less CRDS on `cache_dir` plus the HSTCAL ``*ref`` variables.

    >>> env = crds_env("/x/cache")
    >>> env["CRDS_PATH"], env["jref"], env["CRDS_READONLY_CACHE"]
    ('/x/cache', '/x/cache/references/hst/', '1')
    """
    cache = str(Path(cache_dir))
    refdir = str(references_dir(Path(cache))) + "/"
    config_dir = str(Path(cache) / "config" / "hst") + "/"
    env = {
        "CRDS_PATH": cache,
        "CRDS_OBSERVATORY": "hst",
        "CRDS_SERVER_URL": SERVER_URL,
        "CRDS_READONLY_CACHE": "1",
        # crds 14 needs a config URI in server-less mode (unset: AttributeError in config.get_uri); it
        # lower-cases the value, so a path with capitals falls back to "none" (one failed RPC, then cache)
        "CRDS_CONFIG_URI": config_dir if config_dir == config_dir.lower() else "none",
    }
    env.update({var: refdir for var in REF_VARS.values()})
    return env
