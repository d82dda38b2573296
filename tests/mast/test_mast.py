"""astroquery's real MAST client against a local replay of recorded MAST responses."""

from __future__ import annotations

import pytest

from caldp import mast

EXPECTED = {  # CALDP's download_suffixes applied to the recorded product lists
    ("j8cb010b0", "acs"): ["j8cb010b0_asn.fits", "j8cb01u2q_raw.fits", "j8cb01u3q_raw.fits"],
    ("idn604snq", "wfc3"): ["idn604snq_raw.fits"],
    ("lcxv13050", "cos"): ["lcxv13050_asn.fits", "lcxv13fxq_rawtag_a.fits", "lcxv13fxq_rawtag_b.fits",
                           "lcxv13fxq_spt.fits", "lcxv13gxq_rawacq.fits"],
    ("o8jp01010", "stis"): ["o8jp01010_asn.fits", "o8jp01010_epc.fits", "o8jp01010_raw.fits", "o8jp01010_wav.fits"],
}


def test_client_points_at_configured_server(replay):
    from astroquery.mast import conf

    portal = mast.observations()._portal_api_connection
    assert portal.MAST_REQUEST_URL == f"{replay.url}/api/v0/invoke"
    assert portal.MAST_DOWNLOAD_URL == f"{replay.url}/api/v0.1/Download/file"
    assert portal.COLUMNS_CONFIG_URL == f"{replay.url}/portal/Mashup/Mashup.asmx/columnsconfig"
    assert conf.server == "https://mast.stsci.edu", "astroquery's global configuration is left alone"


@pytest.mark.parametrize(("dataset", "instrument"), list(EXPECTED))
def test_product_filtering(replay, dataset, instrument):
    products = mast.find_products(mast.observations(), dataset, instrument)
    assert [str(n) for n in products["productFilename"]] == EXPECTED[(dataset, instrument)]
    assert set(products["project"]) == {mast.PROJECTS[instrument]}  # never HAP-SVM products
    assert [r[1:] for r in replay.requests] == [
        ("columnsconfig", "Mast.Caom.Cone"), ("invoke", "Mast.Caom.Filtered"),
        ("columnsconfig", "Mast.Caom.Products"), ("invoke", "Mast.Caom.Products")]


def test_download_dataset(replay, tmp_path, caplog):
    caplog.set_level("INFO", logger="caldp")
    files = mast.download_dataset("J8CB010B0", tmp_path, instrument="acs")
    assert [f.name for f in files] == EXPECTED[("j8cb010b0", "acs")]
    assert sorted(p.name for p in tmp_path.iterdir()) == EXPECTED[("j8cb010b0", "acs")], "flat, nothing else"
    assert all(f.read_bytes() == replay.files[f.name].read_bytes() for f in files)
    downloads = [r for r in replay.requests if r[1] == "download"]
    assert downloads == [(m, "download", n) for n in EXPECTED[("j8cb010b0", "acs")] for m in ("HEAD", "GET")]
    progress = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Downloaded ")]
    assert progress[0].startswith("Downloaded 1/3 j8cb010b0_asn.fits (8640 bytes)")
    assert len(progress) == 3


@pytest.mark.parametrize(("error", "reason"), [
    ({"invoke": 500}, r"MAST observation query for j8cb010b0 failed: 500 Server Error"),
    ({"columnsconfig": 503}, r"MAST observation query for j8cb010b0 failed: 503 Server Error"),
    ({"download:j8cb01u3q_raw.fits": 404}, r"MAST download of j8cb01u3q_raw.fits failed: HTTPError: 404 Client Error"),
    ({"download:j8cb01u2q_raw.fits": 500}, r"MAST download of j8cb01u2q_raw.fits failed: HTTPError: 500 Server Error"),
])
def test_http_errors_raise_with_reason(replay, tmp_path, error, reason):
    replay.errors.update(error)
    with pytest.raises(mast.MastError, match=reason):
        mast.download_dataset("j8cb010b0", tmp_path, instrument="acs")
    assert not any(p.name.startswith(".mast-") for p in tmp_path.iterdir()), "no download area left behind"


def test_unknown_dataset(replay, tmp_path):
    with pytest.raises(mast.MastError, match="MAST has no observation j9zz99zzq"):
        mast.download_dataset("j9zz99zzq", tmp_path)


def test_size_mismatch_is_an_error(replay, tmp_path):
    short = tmp_path / "src" / "idn604snq_raw.fits"
    short.parent.mkdir()
    short.write_bytes(b"SIMPLE  =" + b" " * 100)
    replay.serve(short)
    with pytest.raises(mast.MastError, match="idn604snq_raw.fits: 109 bytes, MAST lists 8640"):
        mast.download_dataset("idn604snq", tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_unreachable_mast(monkeypatch, tmp_path):
    monkeypatch.setenv("CALDP_MAST_URL", "http://127.0.0.1:9")
    with pytest.raises(mast.MastError, match="MAST observation query for j8cb010b0 failed: .*Connection refused"):
        mast.download_dataset("j8cb010b0", tmp_path)
