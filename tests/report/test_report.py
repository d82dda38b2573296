"""report.html: built from the messages tree and metrics alone, self-contained, and working in
a real headless Chromium (Debian's chromium + chromium-driver; .ci/prepare-browser.sh)."""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from caldp.cli.report import main as report_main
from caldp.datasets import Dataset
from caldp.messages import ERROR, PROCESSED, PROCESSING, SUBMITTED, SYNCED, MessageTree, iso_utc
from caldp.report import collect, summary_line
from caldp.storage import Store

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
# (dataset, final state, wall s, peak RSS MB, exit name, failing step, reason)
DATASETS = [
    ("jcs101010", PROCESSED, 9.8, 302.4, "SUCCESS", None, None),
    ("ics401010", PROCESSED, 4.1, 655.0, "SUCCESS", None, None),
    ("ics501a1q", SYNCED, 7.2, 288.9, "SUCCESS", None, None),
    ("jcs102010", ERROR, 1.3, 120.5, "STAGE1_ERROR", "calibrate", "calacs: ACSCCD failed: no BIASFILE"),
    ("jcs103010", PROCESSING, None, None, None, None, None),
]


def _jpeg(path: Path, size: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    img = 40 + 120 * np.exp(-((x - size * 0.6) ** 2 + (y - size * 0.4) ** 2) / (0.05 * size * size))
    img = np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path, quality=85)


def make_tree(root: Path) -> Path:
    """An output tree as a batch leaves it: messages, previews, logs and metrics for DATASETS."""
    tree = MessageTree(Store(root))
    t0 = time.time() - 60
    for i, (name, state, wall, rss, exit_name, step, reason) in enumerate(DATASETS):
        prefix = f"data/{Dataset.parse(name).instrument}/{name}"
        when = (lambda t: t) if i == 0 else iso_utc  # the first as trees written before ISO 8601 times
        tree.set_state(name, SUBMITTED, submitted=when(t0 + i))
        if state == PROCESSING:
            tree.set_state(name, PROCESSING, started=when(t0 + i + 1))
            continue
        products = []
        if state != ERROR:
            for j, product in enumerate((f"{name}_drz", f"{name[:6]}a1q_flt", f"{name[:6]}a1q_raw")):
                for key, size in (
                    (f"{prefix}/previews/{product}.jpg", 256),
                    (f"{prefix}/previews/{product}_thumb.jpg", 64),
                ):
                    _jpeg(root / key, size, seed=10 * i + j)
                    products.append(key)
        (root / prefix / "logs").mkdir(parents=True, exist_ok=True)
        (root / prefix / "logs" / "process.txt").write_text(f"log of {name}\nEXIT - {exit_name}\n")
        (root / prefix / "logs" / "process_metrics.txt").write_text(
            f"Dataset: {name}\nExit name: {exit_name}\nElapsed (wall clock) time (seconds): {wall:.3f}\n"
            f"CPU time (seconds): {wall * 1.2:.3f}\nMaximum resident set size (MiB): {rss:.1f}\n"
            f"Step fetch: wall {wall * 0.05:.3f} s, cpu 0.01 s, peak RSS 80.0 MiB\n"
            f"Step calibrate: wall {wall * 0.85:.3f} s, cpu {wall:.3f} s, peak RSS {rss:.1f} MiB\n"
            f"Step preview: wall {wall * 0.1:.3f} s, cpu 0.1 s, peak RSS {rss:.1f} MiB\n"
        )
        final = ERROR if state == ERROR else PROCESSED
        tree.set_state(
            name,
            final,
            finished=when(t0 + i + wall),
            wall=wall,
            peak_rss_mb=rss,
            exit_name=exit_name,
            exit_code=0 if exit_name == "SUCCESS" else 23,
            step=step,
            reason=reason,
            products=products,
        )
        if state == SYNCED:
            tree.set_state(name, SYNCED, synced=when(t0 + 30))
    (root / "logs").mkdir(exist_ok=True)
    (root / "logs" / "batch-20261204T150000-abcdef.txt").write_text("batch log\n")
    return root


def test_report_from_the_tree_alone(tmp_path, capsys):
    root = make_tree(tmp_path / "out")
    report = collect(Store(root))
    assert {r.dataset: r.state for r in report.rows} == {d[0]: d[1] for d in DATASETS}
    rows = {r.dataset: r for r in report.rows}
    assert [s for s, _ in rows["ics401010"].steps] == ["fetch", "calibrate", "preview"]
    assert rows["ics401010"].previews[0][2] == "ics401010_drz"  # drizzled first
    assert rows["jcs102010"].reason.startswith("calacs") and not rows["jcs102010"].previews
    assert rows["jcs101010"].finished - rows["jcs101010"].submitted == pytest.approx(9.8)  # numbers (old trees)
    assert rows["ics401010"].finished - rows["ics401010"].submitted == pytest.approx(4.1, abs=0.002)  # ISO 8601
    line = summary_line(report)
    assert line.startswith("5 datasets · 3 processed · 1 error · 1 not finished · wall ") and "datasets/h" in line

    assert report_main([str(root)]) == 0
    assert f"Report: {root / 'report.html'}" in capsys.readouterr().out
    page = (root / "report.html").read_text()
    assert page.count('<tr class="') == len(DATASETS)
    assert "<script>" in page and "<style>" in page and "<svg" in page
    refs = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert not [u for u in refs if re.match(r"(https?:)?//", u)], "the page must not need the network"
    files = [u for u in refs if not u.startswith("data:")]
    assert files and all((root / u).is_file() for u in files)
    assert "logs/batch-20261204T150000-abcdef.txt" in files


def test_report_of_an_empty_tree_is_a_clear_error(tmp_path, capsys):
    assert report_main([str(tmp_path)]) == 2
    assert "no messages under" in capsys.readouterr().err


@pytest.fixture
def browser(tmp_path, monkeypatch):
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        reason = f"no {' and no '.join(missing)} (Debian: apt-get install chromium chromium-driver)"
        print(f"browser test skipped: {reason}")
        pytest.skip(reason)
    monkeypatch.setenv("SE_OFFLINE", "true")  # selenium-manager must never download a driver or browser
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1400,900",
        "--hide-scrollbars",
    ):
        opts.add_argument(flag)
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    opts.add_argument(f"--user-data-dir={profile}")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _column(driver, index: int) -> list[str]:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#datasets tbody tr'))"
        ".map(r => r.cells[arguments[0]].getAttribute('data-v'))",
        index,
    )


def test_report_in_a_headless_browser(tmp_path, browser):
    from selenium.webdriver.common.by import By

    root = make_tree(tmp_path / "out")
    assert report_main([str(root)]) == 0
    browser.get((root / "report.html").as_uri())
    deadline = time.time() + 10
    while browser.execute_script("return document.readyState") != "complete" and time.time() < deadline:
        time.sleep(0.05)
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert not errors, errors

    rows = browser.find_elements(By.CSS_SELECTOR, "#datasets tbody tr")
    assert len(rows) == len(DATASETS)
    thumbs = browser.execute_script(
        "return Array.from(document.querySelectorAll('td.thumbs img'))"
        ".map(i => [i.getAttribute('src'), i.complete, i.naturalWidth])"
    )
    assert len(thumbs) == 3 * 3  # three datasets with previews, three each
    assert all(complete and width > 0 for _, complete, width in thumbs), thumbs
    assert browser.find_element(By.ID, "summary").text.startswith("5 datasets · 3 processed · 1 error")
    plot_labels = browser.find_elements(By.CSS_SELECTOR, "svg.plot text.label")
    assert sorted(t.text for t in plot_labels) == sorted(d[0] for d in DATASETS if d[2] is not None)
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.plot rect")) >= 4 * 4

    heads = [h.text.strip().lower() for h in browser.find_elements(By.CSS_SELECTOR, "#datasets thead th")]
    wall = heads.index("wall s")
    header = browser.find_elements(By.CSS_SELECTOR, "#datasets thead th")[wall]
    header.click()
    walls = [float(v) for v in _column(browser, wall)]
    assert walls == sorted(walls) and header.get_attribute("aria-sort") == "ascending"
    header.click()
    walls = [float(v) for v in _column(browser, wall)]
    assert walls == sorted(walls, reverse=True) and walls[0] == 9.8
    state = heads.index("state")
    browser.find_elements(By.CSS_SELECTOR, "#datasets thead th")[state].click()
    assert _column(browser, state) == sorted(_column(browser, state))

    rss = heads.index("peak rss mb")
    browser.find_elements(By.CSS_SELECTOR, "#datasets thead th")[rss].click()
    rss_values = [float(v) for v in _column(browser, rss)]
    assert rss_values == sorted(rss_values)
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 1400, "height": min(height, 4000), "deviceScaleFactor": 1, "mobile": False},
    )
    shot = tmp_path / "report.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 20_000
    print(f"screenshot: {shot}")
