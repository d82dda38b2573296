"""``astroquery:`` inputs: a dataset's raw files from MAST, as CALDP retrieves them.

The dataset's products are found with astroquery's own client
(:class:`astroquery.mast.ObservationsClass`): ``query_criteria(obs_id=<ipppssoot>)`` →
``get_product_list`` → ``filter_products`` on the instrument's product subgroups (CALDP's
``download_suffixes``), the instrument's pipeline project (``CALACS``… — HAP products are
not inputs) and ``.fits`` → ``download_products`` one file at a time, flat, into the
dataset's scratch area, each file landing under its own name only once complete and of
the size MAST lists.

The MAST server is ``$CALDP_MAST_URL`` (default https://mast.stsci.edu). astroquery fixes
its URLs when it is imported (``PortalAPI.MAST_REQUEST_URL`` = ``<server>/api/v0/invoke``,
``COLUMNS_CONFIG_URL`` = ``<server>/portal/Mashup/Mashup.asmx/columnsconfig``,
``MAST_DOWNLOAD_URL`` = ``<server>/api/v0.1/Download/file``…), so :func:`observations`
points one client instance at the configured server instead of changing ``conf.server``.
Any failure raises :class:`MastError` with the reason (the fetch task reports
ASTROQUERY_ERROR).

>>> download_suffixes("stis"), project_of("wfc3")
(('ASN', 'RAW', 'EPC', 'TAG', 'WAV'), 'CALWF3')
>>> mast_url({"CALDP_MAST_URL": "http://127.0.0.1:8080/"})
'http://127.0.0.1:8080'
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

from .sysexit import describe

log = logging.getLogger(__name__)

DEFAULT_MAST_URL = "https://mast.stsci.edu"

#: CALDP's ``download_suffixes`` (caldp/process.py InstrumentManager subclasses).
DOWNLOAD_SUFFIXES: dict[str, tuple[str, ...]] = {
    "acs": ("ASN", "RAW"),
    "wfc3": ("ASN", "RAW"),
    "cos": ("ASN", "RAW", "EPC", "SPT", "RAWACCUM", "RAWACCUM_A", "RAWACCUM_B", "RAWACQ", "RAWTAG", "RAWTAG_A",
            "RAWTAG_B", "PHA_A", "PHA_B"),
    "stis": ("ASN", "RAW", "EPC", "TAG", "WAV"),
}
#: MAST's ``project`` of each instrument's pipeline (DADS) products; older records say ``HST``.
#: HAP (``HAP-SVM``…) and HLA products are never calibration inputs.
PROJECTS = {"acs": "CALACS", "wfc3": "CALWF3", "cos": "CALCOS", "stis": "CALSTIS"}
LEGACY_PROJECT = "HST"
#: (connect, read) seconds for each HTTP request to MAST; astroquery itself sets none.
HTTP_TIMEOUT = (30, 300)


class MastError(RuntimeError):
    """A MAST query or download failed; the message says why."""


def mast_url(environ: Mapping[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    return (environ.get("CALDP_MAST_URL") or DEFAULT_MAST_URL).rstrip("/")


def download_suffixes(instrument: str) -> tuple[str, ...]:
    try:
        return DOWNLOAD_SUFFIXES[instrument]
    except KeyError:
        raise MastError(f"no astroquery download rules for instrument {instrument!r}") from None


def project_of(instrument: str) -> str:
    return PROJECTS[instrument]


def observations(server: str | None = None):
    """An astroquery Observations client whose every URL points at `server` (default :func:`mast_url`)."""
    from astroquery.mast import ObservationsClass

    server = (server or mast_url()).rstrip("/")
    obs = ObservationsClass()
    portal = obs._portal_api_connection
    portal.MAST_REQUEST_URL = f"{server}/api/v0/invoke"
    portal.COLUMNS_CONFIG_URL = f"{server}/portal/Mashup/Mashup.asmx/columnsconfig"
    portal.MAST_DOWNLOAD_URL = f"{server}/api/v0.1/Download/file"
    portal.MAST_BUNDLE_URL = f"{server}/api/v0.1/Download/bundle"
    portal._column_configs = {}  # astroquery caches these on the class, across servers
    service = obs._service_api_connection
    service.SERVICE_URL = server
    service.REQUEST_URL = f"{server}/api/v0.1/"
    service.MISSIONS_DOWNLOAD_URL = f"{server}/search/"
    service.MAST_DOWNLOAD_URL = f"{server}/api/v0.1/Download/file"
    obs._auth_obj.SESSION_INFO_URL = f"{server}/whoami"
    _default_timeout(obs._session)
    return obs


def _default_timeout(session) -> None:
    request = session.request

    def with_timeout(method, url, **kwargs):
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = HTTP_TIMEOUT
        return request(method, url, **kwargs)

    session.request = with_timeout


def find_products(obs, dataset_name: str, instrument: str):
    """The product rows of `dataset_name` that calibration needs (astropy Table)."""
    import warnings

    from astroquery.exceptions import NoResultsWarning

    suffixes = list(download_suffixes(instrument))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoResultsWarning)
        try:
            table = obs.query_criteria(obs_id=dataset_name)
        except Exception as exc:
            raise MastError(f"MAST observation query for {dataset_name} failed: {describe(exc)}") from exc
        if table is None or len(table) == 0:
            raise MastError(f"MAST has no observation {dataset_name}")
        try:
            products = obs.get_product_list(table)
        except Exception as exc:
            raise MastError(f"MAST product list for {dataset_name} failed: {describe(exc)}") from exc
    log.info("MAST lists %d products for %s; keeping %s (project %s)", len(products), dataset_name,
             "/".join(suffixes), project_of(instrument))
    selected = obs.filter_products(products, productSubGroupDescription=suffixes,
                                   project=[project_of(instrument), LEGACY_PROJECT], extension="fits", mrp_only=False)
    keep = [str(n).lower().startswith(dataset_name[:6]) for n in selected["productFilename"]]
    selected = selected[keep]
    if len(selected) == 0:
        raise MastError(f"MAST lists no {'/'.join(suffixes)} files for {dataset_name}")
    # one row per file, in name order (an association lists members once per parent)
    _, first = _unique(selected["productFilename"])
    return selected[sorted(first, key=lambda i: str(selected["productFilename"][i]))]


def _unique(names) -> tuple[list[str], list[int]]:
    seen: dict[str, int] = {}
    for i, n in enumerate(names):
        seen.setdefault(str(n), i)
    return list(seen), list(seen.values())


def download_dataset(dataset_name: str, scratch_dir: str | os.PathLike, instrument: str | None = None,
                     server: str | None = None) -> list[Path]:
    """Download the dataset's raw files from MAST flat into `scratch_dir`; returns their paths."""
    from .datasets import Dataset

    dataset = Dataset.parse(dataset_name)
    instrument = instrument or dataset.instrument
    scratch_dir = Path(scratch_dir)
    scratch_dir.mkdir(parents=True, exist_ok=True)
    server = (server or mast_url()).rstrip("/")
    log.info("Retrieving %s files for %s from MAST at %s", "/".join(download_suffixes(instrument)),
             dataset.name, server)
    obs = observations(server)
    products = find_products(obs, dataset.name, instrument)
    total = sum(int(s) for s in products["size"] if _is_int(s))
    log.info("Downloading %d files (%.1f MB) for %s", len(products), total / 1e6, dataset.name)
    incoming = scratch_dir / f".mast-{uuid.uuid4().hex[:8]}"
    incoming.mkdir()
    out = []
    try:
        for i in range(len(products)):
            row = products[i:i + 1]
            name = str(row["productFilename"][0])
            t0 = time.perf_counter()
            out.append(_download_one(obs, row, name, incoming, scratch_dir))
            log.info("Downloaded %d/%d %s (%d bytes) in %.1f s", i + 1, len(products), name,
                     out[-1].stat().st_size, time.perf_counter() - t0)
    finally:
        shutil.rmtree(incoming, ignore_errors=True)
    return out


def _download_one(obs, row, name: str, incoming: Path, dest_dir: Path) -> Path:
    try:
        manifest = obs.download_products(row, download_dir=str(incoming), flat=True, cache=False, verbose=False)
    except Exception as exc:
        raise MastError(f"MAST download of {name} failed: {describe(exc)}") from exc
    if manifest is None or len(manifest) != 1:
        raise MastError(f"MAST download of {name} returned no manifest")
    status, message = str(manifest["Status"][0]), manifest["Message"][0]
    local = Path(str(manifest["Local Path"][0]))
    if status != "COMPLETE" or not local.is_file():
        raise MastError(f"MAST download of {name} failed: {message or status}")
    expected = row["size"][0]
    if _is_int(expected) and local.stat().st_size != int(expected):
        raise MastError(f"MAST download of {name}: {local.stat().st_size} bytes, MAST lists {int(expected)}")
    final = dest_dir / name
    os.replace(local, final)
    return final


def _is_int(value) -> bool:
    try:
        int(value)
    except Exception:  # None, masked, text
        return False
    return True
