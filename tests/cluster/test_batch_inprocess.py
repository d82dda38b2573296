"""run_batch on the in-process cluster: failures stay per dataset, resume and force,
the summary, and a MemoryError retried once on the next rung."""

from __future__ import annotations

from pathlib import Path

import pytest

from caldp.cluster import memory
from caldp.cluster.batch import SKIPPED, run_batch

from . import kit
from .conftest import calacs_runs, message, messages


def _batch(names, input_uri, out, env, tmp_path, **kw):
    return run_batch(
        names,
        input_uri=input_uri,
        output_uri=f"file:{out}",
        config="caldp-config-local",
        engine="hstcal",
        cluster="inprocess",
        threads_per_worker=2,
        memory_limit="4GiB",
        stage2=False,
        previews=False,
        workdir=str(tmp_path / "work"),
        env=env,
        progress=False,
        **kw,
    )


def test_batch_resume_and_force(kit_env, inputs, tmp_path):
    names = kit.dataset_names(3)
    missing = "jzz00001q"
    src = inputs(names)
    out = tmp_path / "out"
    log = tmp_path / "calacs.log"
    env = {**kit_env, "FAKE_CALACS_LOG": str(log)}

    first = _batch([*names, missing], src, out, env, tmp_path)
    assert not first.ok
    states = {r["dataset"]: r["state"] for r in first.summary}
    assert states == {**dict.fromkeys(names, "datasets-processed"), missing: "dataset-error"}
    assert messages(out) == {"datasets-processed": names, "dataset-error": [missing]}
    bad = next(r for r in first.summary if r["dataset"] == missing)
    assert bad["exit_code"] == "INPUT_TAR_FILE_ERROR" and bad["products"] == [] and "fetch" in bad["reason"]
    good = first.summary[0]
    assert good["exit_code"] == "SUCCESS" and good["instrument"] == "acs" and good["attempts"] == 1
    assert good["wall"] > 0 and good["peak_rss_mb"] > 0
    assert sorted(Path(p).name for p in good["products"]) == sorted(
        [f"{names[0]}_raw.fits", f"{names[0]}_flt.fits", f"{names[0]}.tra"]
    )
    for p in good["products"]:
        assert (out / p).is_file()
    table = first.table()
    assert all(n in table for n in [*names, missing]) and "INPUT_TAR_FILE_ERROR" in table
    assert "4 datasets" in table.splitlines()[-1]
    assert sorted(d for d, _, _ in calacs_runs(log)) == names
    assert not list((tmp_path / "work").iterdir()), "the batch removes its staging and scratch"

    again = _batch([*names, missing], src, out, env, tmp_path)  # --resume is the default
    assert [r["state"] for r in again.summary] == [SKIPPED] * 3 + ["dataset-error"]
    assert again.summary[0]["products"] == good["products"] and again.summary[0]["attempts"] == 0
    assert len(calacs_runs(log)) == 3, "processed datasets are not calibrated again"

    forced = _batch(names[:1], src, out, env, tmp_path, force=True)
    assert forced.ok and forced.summary[0]["state"] == "datasets-processed"
    assert [d for d, _, _ in calacs_runs(log)].count(names[0]) == 2
    meta = message(out, "datasets-processed", names[0])
    assert [h["state"] for h in meta["history"]].count("datasets-processed") == 2
    assert messages(out)["datasets-processed"] == names, "one message per dataset, in one state"


def test_memory_error_retried_once_on_the_next_rung(kit_env, inputs, tmp_path, monkeypatch):
    """A MemoryError in stage 1 (CALDP_SIMULATE_ERROR) is retried on the next rung, then
    recorded as CALDP_MEMORY_ERROR."""
    monkeypatch.setenv("CALDP_SIMULATE_ERROR", "stage1:CALDP_MEMORY_ERROR")  # the in-process worker reads it
    names = kit.dataset_names(1)
    out = tmp_path / "out"
    result = _batch(names, inputs(names), out, kit_env, tmp_path, rungs=(1024, 2048, 8192))
    (row,) = result.summary
    assert row["state"] == "dataset-error" and row["exit_code"] == "CALDP_MEMORY_ERROR"
    assert row["attempts"] == 2 and row["memory_mb"] == 2048, "second try on the rung above 1024"
    meta = message(out, "dataset-error", names[0])
    assert meta["exit_name"] == "CALDP_MEMORY_ERROR" and meta["step"] == "stage1"
    assert [h["state"] for h in meta["history"]].count("dataset-error") == 2


@pytest.mark.parametrize("retries", [0])
def test_no_retry_when_disabled(kit_env, inputs, tmp_path, monkeypatch, retries):
    monkeypatch.setenv("CALDP_SIMULATE_ERROR", "stage1:CALDP_MEMORY_ERROR")
    names = kit.dataset_names(1)
    result = _batch(names, inputs(names), tmp_path / "out", kit_env, tmp_path, retries=retries)
    assert result.summary[0]["attempts"] == 1
    assert result.summary[0]["memory_mb"] == memory.rung_for(memory.estimate(names[0], 6000).peak_mb)
