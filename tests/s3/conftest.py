"""A real S3-protocol server (moto) on 127.0.0.1 and small datasets to put in it."""

from __future__ import annotations

import logging
import os
import socket
import tarfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/nonexistent/aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise


class LocalS3:
    """A moto server in a thread; its state lives in this process and survives restarts."""

    def __init__(self):
        from moto.server import ThreadedMotoServer

        self.port = free_port()
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.running = False

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {**AWS_ENV, "AWS_ENDPOINT_URL": self.endpoint}

    def start(self) -> LocalS3:
        self.server.start()
        self.running = True
        return self

    def stop(self) -> None:
        if self.running:
            self.running = False
            self.server.stop()

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def new_bucket(self, stem: str = "caldp") -> str:
        name = f"{stem}-{uuid.uuid4().hex[:10]}"
        self.client().create_bucket(Bucket=name)
        return name

    def objects(self, bucket: str, prefix: str = "") -> dict[str, int]:
        """{key: size} of every object under `prefix` in `bucket`."""
        out = {}
        for page in self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                out[obj["Key"]] = obj["Size"]
        return out


@pytest.fixture(scope="session")
def s3_server():
    server = LocalS3().start()
    yield server
    server.stop()


@pytest.fixture
def aws_env(s3_server, monkeypatch):
    """This process's AWS environment pointed at the local server."""
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    return s3_server.env()


@pytest.fixture
def bucket(s3_server, aws_env) -> str:
    return s3_server.new_bucket()


@dataclass(frozen=True)
class SmallDataset:
    name: str
    instrument: str
    tarball: Path
    files: tuple[str, ...]
    crds_cache: Path | None = None
    env: dict | None = None


def _raw(path: Path, rootname: str, asn: str) -> None:
    primary = fits.PrimaryHDU()
    h = primary.header
    h["TELESCOP"], h["INSTRUME"], h["DETECTOR"] = "HST", "ACS", "WFC"
    h["ROOTNAME"], h["ASN_ID"], h["FILENAME"] = rootname.upper(), asn.upper(), path.name
    h["DATE-OBS"], h["TIME-OBS"] = "2005-06-01", "12:00:00"
    sci = fits.ImageHDU(np.arange(64, dtype=np.uint16).reshape(8, 8), name="SCI")
    fits.HDUList([primary, sci]).writeto(path)


def handmade_dataset(outdir: Path, name: str = "j8cb010b0") -> SmallDataset:
    """A tiny ACS association (asn + two raws) in ``<name>.tar.gz``, when the simulator is absent."""
    outdir.mkdir(parents=True, exist_ok=True)
    members = [f"{name[:6]}u{c}q" for c in "23"]
    files = []
    asn = outdir / f"{name}_asn.fits"
    table = fits.BinTableHDU.from_columns([
        fits.Column(name="MEMNAME", format="14A", array=[m.upper() for m in members] + [name.upper()]),
        fits.Column(name="MEMTYPE", format="14A", array=["EXP-CRJ", "EXP-CRJ", "PROD-CRJ"]),
        fits.Column(name="MEMPRSNT", format="L", array=[True, True, True]),
    ])
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(asn)
    files.append(asn)
    for m in members:
        p = outdir / f"{m}_raw.fits"
        _raw(p, m, name)
        files.append(p)
    tarball = outdir / f"{name}.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        for f in files:
            tar.add(f, arcname=f.name)
    return SmallDataset(name, "acs", tarball, tuple(sorted(f.name for f in files)))


def small_dataset(outdir: Path) -> SmallDataset:
    """One small simulated ACS/WFC association as a tarball (the simulator's, else hand-made)."""
    try:
        from caldp import sim
    except ImportError:
        sim = None
    if not hasattr(sim, "simulate"):
        return handmade_dataset(outdir)
    result = sim.simulate(outdir, modes=("acs-wfc-asn",), size="small", seed=1, count=1, tar=True)
    ds = result.datasets[0]
    with tarfile.open(ds.input_path) as tar:
        names = tuple(sorted(Path(m.name).name for m in tar.getmembers() if m.isfile()))
    return SmallDataset(ds.name, ds.instrument, Path(ds.input_path), names, Path(result.crds_cache),
                        dict(result.env))


@pytest.fixture(scope="session")
def dataset(tmp_path_factory) -> SmallDataset:
    return small_dataset(tmp_path_factory.mktemp("s3-dataset"))
