"""The console is quiet: a line per step, warnings, the summary and where things are; Dask's
INFO and the rest of the log go to the log files (``-v`` shows it live)."""

from __future__ import annotations

import io
import json
import logging
import re
from datetime import timedelta

from caldp.cli.common import CONSOLE, Console

from .conftest import run_cli

BAR = re.compile(r"^\[[#.]{30}\] \d+/\d+ ")
MAX_PROCESS_LINES = 14  # header, 4 steps, 5 summary lines, EXIT (11), room for a warning or two
MAX_BATCH_LINES = 18  # header, the error, 2-3 bars, table (5), report, log, products, reason, EXIT (15-16)


def _lines(proc) -> list[str]:
    return [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]


def test_process_default_console(sim_ir, tmp_path):
    name = sim_ir.datasets[0].name
    out = tmp_path / "out"
    proc = run_cli(
        "process",
        name,
        f"file:{sim_ir.datasets_txt.parent / 'inputs'}",
        f"file:{out}",
        "caldp-config-local",
        env=sim_ir.env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = _lines(proc)
    assert len(lines) <= MAX_PROCESS_LINES, "\n".join(lines)
    assert not any("distributed." in ln for ln in lines), "\n".join(lines)
    for step in ("fetch", "calibrate", "preview", "upload"):
        assert sum(ln.startswith(f"{name}: {step}") and "done in" in ln for ln in lines) == 1, (step, lines)
    log = out / "data" / "wfc3" / name / "logs" / "process.txt"
    assert any(ln.split()[-1] == str(log) for ln in lines), lines
    assert any(str(out / "data" / "wfc3" / name / "previews") in ln for ln in lines), lines
    assert proc.stderr.splitlines()[-1] == "EXIT - SUCCESS[0]: Processing completed successfully."
    # what the console left out is in the dataset's log
    text = log.read_text()
    assert "caldp.bestrefs" in text and "Stage 1" in text
    assert "bestrefs" not in proc.stderr
    # the message history of a real run parses as UTC
    from datetime import datetime

    meta = json.loads((out / "messages" / "datasets-processed" / name).read_text())
    stamps = [meta["submitted"], meta["started"], meta["finished"]]
    times = [datetime.fromisoformat(t) for t in stamps] + [datetime.fromisoformat(h["time"]) for h in meta["history"]]
    assert all(t.utcoffset() == timedelta(0) for t in times)
    assert times[:3] == sorted(times[:3]) and times[3:] == sorted(times[3:])


def test_batch_default_console_log_and_report(sim_ir, tmp_path):
    good = sim_ir.datasets[0].name
    missing = "icz901zzq"  # no inputs: fails in fetch
    listing = tmp_path / "datasets.txt"
    listing.write_text(f"{good}\n{missing}\n")
    out = tmp_path / "out"
    proc = run_cli(
        "batch",
        listing,
        "--input",
        f"file:{sim_ir.datasets_txt.parent / 'inputs'}",
        "--output",
        f"file:{out}",
        "--config",
        "caldp-config-local",
        "--cluster",
        "inprocess",
        "--workers",
        "1",
        env=sim_ir.env,
    )
    assert proc.returncode == 1, proc.stderr[-3000:]
    lines = _lines(proc)
    assert len(lines) <= MAX_BATCH_LINES, "\n".join(lines)
    assert not any("distributed." in ln for ln in lines), "\n".join(lines)
    # the progress bar has lines of its own
    bars = [ln for ln in proc.stderr.splitlines() if "[#" in ln or "[." in ln]
    assert bars and all(BAR.match(ln) for ln in bars), bars
    assert bars[-1].startswith("[" + "#" * 30 + "] 2/2 ")
    # the batch log has what the console left out, Dask's INFO included
    logs = sorted((out / "logs").glob("batch-*.txt"))
    assert len(logs) == 1 and f"batch log: {logs[0]}" in proc.stderr
    text = logs[0].read_text()
    assert re.search(r" INFO +distributed\.", text) and f"{good}: calibrate done in" in text
    # the report: one row per dataset, previews that exist, relative links only
    report = out / "report.html"
    assert f"report:    {report}" in proc.stderr
    page = report.read_text()
    assert page.count('<tr class="') == 2 and "icz901zzq" in page and good in page
    links = re.findall(r'(?:src|href)="([^"]+)"', page)
    local = [u for u in links if not u.startswith(("data:", "#"))]
    assert local and not any("://" in u or u.startswith("/") for u in local), local
    assert all((out / u).is_file() for u in local), [u for u in local if not (out / u).is_file()]
    assert any(u.endswith("_thumb.jpg") for u in local)


def _record(name: str, level: int, msg: str, **extra) -> logging.LogRecord:
    rec = logging.LogRecord(name, level, __file__, 1, msg, None, None)
    rec.__dict__.update(extra)
    return rec


def test_console_filter_by_verbosity():
    dask_info = _record("distributed.scheduler", logging.INFO, "State start")
    dask_warn = _record("distributed.worker", logging.WARNING, "memory")
    step = _record("caldp.tasks.runtime", logging.INFO, "x: fetch done", **CONSOLE)
    info = _record("caldp.bestrefs", logging.INFO, "bestrefs")
    warn = _record("caldp.tasks.preview", logging.WARNING, "no preview")
    pywarn = _record("py.warnings", logging.WARNING, "/venv/site-packages/distributed/node.py:188: UserWarning: Port")
    shown = {
        (v, steps): [
            r.getMessage()
            for r in (dask_info, dask_warn, step, info, warn, pywarn)
            if Console(v, io.StringIO(), steps=steps).wants(r)
        ]
        for v in (0, 1, 2)
        for steps in (True, False)
    }
    assert shown[0, True] == ["memory", "x: fetch done", "no preview"]
    assert shown[0, False] == ["memory", "no preview"]
    assert shown[1, False] == ["memory", "x: fetch done", "bestrefs", "no preview"]
    assert shown[2, False] == ["State start", "memory", "x: fetch done", "bestrefs", "no preview", pywarn.msg]


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def _screen(raw: str) -> list[str]:
    """The lines a terminal ends up showing: ``\\r`` returns to the line's start, ``ESC[K`` clears it."""
    lines, cur = [], ""
    for token in re.split(r"(\r\x1b\[K|\r|\n)", raw):
        if token in ("\r\x1b[K", "\r"):
            cur = ""
        elif token == "\n":
            lines.append(cur)
            cur = ""
        else:
            cur += token
    return lines + ([cur] if cur else [])


def test_progress_bar_never_shares_a_line_with_a_log_line():
    term = _Terminal()
    console = Console(1, term, steps=False)
    console.status("[#.........] 1/10")
    console.emit(_record("caldp.x", logging.WARNING, "a warning"))
    console.status("[##........] 2/10")
    console.emit(_record("caldp.x", logging.INFO, "an info line"))
    console.status("[##########] 10/10", final=True)
    screen = _screen(term.getvalue())
    assert len(screen) == 3, screen
    assert screen[0].endswith("a warning") and "[#" not in screen[0]
    assert screen[1].endswith("an info line") and "[#" not in screen[1]
    assert screen[2] == "[##########] 10/10"


def test_console_status_off_a_terminal_prints_whole_lines():
    stream = io.StringIO()
    console = Console(0, stream)
    console.status("[#.] 1/2")
    console.emit(_record("caldp.x", logging.WARNING, "careful"))
    console.status("[##] 2/2", final=True)
    assert stream.getvalue() == "[#.] 1/2\nWARNING: careful\n[##] 2/2\n"


def test_batch_local_cluster_workers_stay_quiet(sim_ir, tmp_path):
    """Worker processes share the terminal: their Dask INFO must not reach it either."""
    good = sim_ir.datasets[0].name
    listing = tmp_path / "datasets.txt"
    listing.write_text(f"{good}\n")
    out = tmp_path / "out"
    proc = run_cli(
        "batch", listing, "--input", f"file:{sim_ir.datasets_txt.parent / 'inputs'}", "--output", f"file:{out}",
        "--config", "caldp-config-local", "--cluster", "local", "--workers", "1", "--threads-per-worker", "1",
        env=sim_ir.env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = _lines(proc)
    assert len(lines) <= MAX_BATCH_LINES - 3, "\n".join(lines)
    assert not any("distributed." in ln or " - INFO - " in ln for ln in lines), "\n".join(lines)
    assert (out / "report.html").is_file()
