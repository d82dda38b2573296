"""caldp-config-aws: CRDS rules and references read from an S3 bucket (the local S3 server)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from caldp.bestrefs import assign_bestrefs
from caldp.config import resolve_config
from caldp.crds_s3 import bucket_metadata, publish_cache, sha1sum

from .crdscache import REFERENCE, build_crds_cache


def _raw(path: Path, date: str = "2005-06-01") -> Path:
    primary = fits.PrimaryHDU()
    for key, value in {"TELESCOP": "HST", "INSTRUME": "ACS", "DETECTOR": "WFC", "DATE-OBS": date,
                       "TIME-OBS": "12:00:00"}.items():
        primary.header[key] = value
    fits.HDUList([primary, fits.ImageHDU(np.zeros((4, 4), np.uint16), name="SCI")]).writeto(path)
    return path


@pytest.fixture
def published(tmp_path, bucket, s3_server):
    cache = build_crds_cache(tmp_path / "published_cache")
    publish_cache(cache, f"s3://{bucket}/crds")
    return cache, f"s3://{bucket}/crds"


def aws_config(tmp_path, crdsbucket, aws_env):
    return resolve_config("caldp-config-aws", {**aws_env, "CRDSBUCKET": crdsbucket,
                                               "CRDS_PATH": str(tmp_path / "local_cache")})


def test_bucket_layout_and_catalogue(published, s3_server, bucket, tmp_path, aws_env):
    cache, uri = published
    keys = set(s3_server.objects(bucket, "crds/"))
    assert {"crds/config/hst/server_config", "crds/mappings/hst/hst_0001.pmap",
            f"crds/references/hst/{REFERENCE}"} <= keys
    env = aws_config(tmp_path, uri, aws_env)
    meta = bucket_metadata(env)
    ref = cache / "references" / "hst" / REFERENCE
    assert meta[REFERENCE] == {"size": str(ref.stat().st_size), "sha1sum": sha1sum(ref)}


def test_bestrefs_from_bucket(published, tmp_path, aws_env):
    _, uri = published
    env = aws_config(tmp_path, uri, aws_env)
    raw = _raw(tmp_path / "j8cb01u2q_raw.fits")
    assigned = assign_bestrefs([raw], env)
    assert assigned[raw.name]["CCDTAB"] == f"jref${REFERENCE}"
    local = Path(env["jref"], REFERENCE)
    assert local.is_file() and sha1sum(local) == sha1sum(published[0] / "references" / "hst" / REFERENCE)
    assert fits.getval(raw, "CRDS_CTX") == "hst_0001.pmap"
    assert not list(local.parent.glob(".*part"))


def test_corrupt_reference_in_bucket_is_refused(published, tmp_path, aws_env, s3_server, bucket):
    _, uri = published
    s3_server.client().put_object(Bucket=bucket, Key=f"crds/references/hst/{REFERENCE}", Body=b"not a fits file")
    env = aws_config(tmp_path, uri, aws_env)
    raw = _raw(tmp_path / "j8cb01u2q_raw.fits")
    with pytest.raises(RuntimeError, match=f"{REFERENCE}.*failed verification"):
        assign_bestrefs([raw], env)
    assert not Path(env["jref"], REFERENCE).exists()


def test_aws_config_needs_a_bucket():
    with pytest.raises(ValueError, match="CRDSBUCKET"):
        resolve_config("caldp-config-aws", {})


def test_publish_cli(tmp_path, bucket, s3_server, aws_env, capsys):
    from caldp.crds_s3 import main

    cache = build_crds_cache(tmp_path / "c")
    (cache / "references" / "hst" / "ref_cache_subdir_mode").unlink()  # publishing works without it too
    assert main([str(cache), f"s3://{bucket}"]) == 0
    assert "CRDSBUCKET=s3://" in capsys.readouterr().out
    assert f"references/hst/{REFERENCE}" in s3_server.objects(bucket)
