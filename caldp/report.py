"""A batch report: ``<output>/report.html``, one self-contained page built from the output tree.

Everything comes from what the tasks leave in the output tree, so the page can be rebuilt
anywhere from the tree alone (``caldp-report <output>``), including a local copy made by
``caldp-sync``:

- ``messages/<state>/<ipppssoot>``: state, exit name, failing step and reason, wall, peak RSS,
  products (previews among them), submission and finish times;
- ``data/<instrument>/<ipppssoot>/logs/process_metrics.txt``: wall, CPU and peak RSS per step;
- ``logs/*.txt``: the batch logs, linked at the foot of the page.

The page needs no network: CSS and the table-sorting script are inline, the plot of wall time
and peak memory per dataset is an inline SVG, and previews and logs are linked by paths
relative to the output tree (``data/…``), so the page works wherever the tree is.
"""

from __future__ import annotations

import concurrent.futures
import html
import json
import logging
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import PurePosixPath
from urllib.parse import quote

from .datasets import Dataset
from .messages import ERROR, PROCESSED, PROCESSING, STATES, SUBMITTED, SYNCED, MessageTree, iso_utc

log = logging.getLogger(__name__)

REPORT_KEY = "report.html"
STEP_COLORS = {"fetch": "#9db4d8", "calibrate": "#3d6fb4", "preview": "#59a86b", "upload": "#d9a43b"}
OTHER_STEP_COLOR = "#9a9a9a"
RSS_COLOR = "#c8553d"
#: Preview products shown first (calibrated and combined before raw).
PREVIEW_ORDER = ("drz", "drc", "crj", "crc", "flt", "flc", "ima", "x1d", "sx1", "raw")
MAX_THUMBS = 5
DONE_STATES = (PROCESSED, SYNCED)
SHORT_STATES = {
    PROCESSED: "processed",
    SYNCED: "synced",
    ERROR: "error",
    PROCESSING: "processing",
    SUBMITTED: "submitted",
}


@dataclass(slots=True)
class DatasetRow:
    """One dataset's line in the report."""

    dataset: str
    instrument: str
    state: str
    exit_name: str = ""
    exit_code: int | None = None
    step: str = ""
    reason: str = ""
    wall: float | None = None
    cpu: float | None = None
    peak_rss_mb: float | None = None
    submitted: float | None = None
    finished: float | None = None
    steps: list[tuple[str, float]] = field(default_factory=list)  # (step, wall s) from process_metrics.txt
    previews: list[tuple[str, str, str]] = field(default_factory=list)  # (thumbnail key, full key, label)
    log_key: str | None = None
    metrics_key: str | None = None
    n_products: int = 0
    warnings: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Report:
    rows: list[DatasetRow]
    location: str
    batch_logs: list[str] = field(default_factory=list)
    generated: str = field(default_factory=iso_utc)

    def count(self, *states: str) -> int:
        return sum(r.state in states for r in self.rows)

    @property
    def span(self) -> float | None:
        """Seconds from the first submission to the last finish (the batch's wall, as the tree tells it)."""
        starts = [r.submitted for r in self.rows if r.submitted]
        ends = [r.finished for r in self.rows if r.finished]
        if not starts or not ends:
            return None
        return max(ends) - min(starts)


_METRIC_STEP = re.compile(r"^Step (\S+): wall ([0-9.]+) s, cpu ([0-9.]+) s")
_METRIC_CPU = re.compile(r"^CPU time \(seconds\): ([0-9.]+)")


def parse_metrics(text: str) -> tuple[list[tuple[str, float]], float | None]:
    """(steps as (name, wall s), total CPU s) from a ``process_metrics.txt``.

    >>> parse_metrics("CPU time (seconds): 12.2\\nStep fetch: wall 0.048 s, cpu 0.017 s, peak RSS 164.0 MiB\\n")
    ([('fetch', 0.048)], 12.2)
    """
    steps, cpu = [], None
    for line in text.splitlines():
        if m := _METRIC_STEP.match(line):
            steps.append((m.group(1), float(m.group(2))))
        elif m := _METRIC_CPU.match(line):
            cpu = float(m.group(1))
    return steps, cpu


def _preview_rank(name: str) -> tuple[int, str]:
    suffix = name.rsplit("_", 1)[-1] if "_" in name else ""
    return (PREVIEW_ORDER.index(suffix) if suffix in PREVIEW_ORDER else len(PREVIEW_ORDER), name)


def previews_of(products: list[str]) -> list[tuple[str, str, str]]:
    """(thumbnail, full preview, label) for each preview among `products`, best first.

    >>> previews_of(["d/p/x_raw_thumb.jpg", "d/p/x_raw.jpg", "d/p/x_drz_thumb.jpg", "d/p/x_drz.jpg", "d/x_flt.fits"])
    [('d/p/x_drz_thumb.jpg', 'd/p/x_drz.jpg', 'x_drz'), ('d/p/x_raw_thumb.jpg', 'd/p/x_raw.jpg', 'x_raw')]
    """
    have = set(products)
    out = []
    for key in products:
        if key.endswith("_thumb.jpg"):
            full = key[: -len("_thumb.jpg")] + ".jpg"
            label = PurePosixPath(full).stem
            out.append((key, full if full in have else key, label))
    return sorted(out, key=lambda t: _preview_rank(t[2]))


def _float(value) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _when(value) -> float | None:
    """A message time as POSIX seconds: ISO 8601 text (``2026-12-04T15:08:08.532Z``) or, in trees
    written before times were ISO 8601, a number.

    >>> _when("1970-01-01T00:01:40.250Z"), _when(100.25), _when("soon")
    (100.25, 100.25, None)
    """
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            return None
        return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()
    return _float(value)


def collect(store, *, read_metrics: bool = True) -> Report:
    """Every dataset in `store`'s messages tree, with its metrics, previews and log (several
    datasets at a time: an S3 tree costs a few requests per dataset)."""
    tree = MessageTree(store)
    found: dict[str, str] = {}
    for state in STATES:
        for name in tree.datasets_in(state):
            found.setdefault(name, state)

    def one(item: tuple[str, str]) -> DatasetRow:
        name, state = item
        try:
            meta = json.loads(store.read_text(tree.key(state, name)) or "{}")
        except Exception as exc:  # noqa: BLE001 -- e.g. moved to its next state meanwhile; the row says what we know
            log.warning("report: cannot read the message of %s: %s", name, exc)
            meta = {}
        return _row(store, name, state, meta, read_metrics)

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        rows = list(pool.map(one, found.items()))
    batch_logs = [k for k in store.list("logs") if k.endswith((".txt", ".log"))]
    return Report(rows, getattr(store, "uri", str(store)), batch_logs)


def _row(store, name: str, state: str, meta: dict, read_metrics: bool) -> DatasetRow:
    try:
        instrument = Dataset.parse(name).instrument
    except ValueError:
        instrument = ""
    products = [p for p in meta.get("products") or [] if isinstance(p, str)]
    prefix = f"data/{instrument}/{name}"
    row = DatasetRow(
        dataset=name,
        instrument=instrument,
        state=state,
        exit_name=meta.get("exit_name") or "",
        exit_code=meta.get("exit_code"),
        step=meta.get("step") or "",
        reason=meta.get("reason") or "",
        wall=_float(meta.get("wall")),
        peak_rss_mb=_float(meta.get("peak_rss_mb")),
        submitted=_when(meta.get("submitted")),
        finished=_when(meta.get("finished")),
        previews=previews_of(products),
        n_products=len(products),
        warnings=[str(w) for w in meta.get("warnings") or []],
    )
    if instrument and store.exists(f"{prefix}/logs/process.txt"):
        row.log_key = f"{prefix}/logs/process.txt"
    metrics = f"{prefix}/logs/process_metrics.txt"
    if instrument and read_metrics and store.exists(metrics):
        row.metrics_key = metrics
        try:
            text = store.read_text(metrics)
            row.steps, row.cpu = parse_metrics(text)
            if row.wall is None and (m := re.search(r"Elapsed \(wall clock\) time \(seconds\): ([0-9.]+)", text)):
                row.wall = float(m.group(1))
            if row.peak_rss_mb is None and (m := re.search(r"Maximum resident set size \(MiB\): ([0-9.]+)", text)):
                row.peak_rss_mb = float(m.group(1))
        except (OSError, ValueError) as exc:
            log.warning("report: cannot read %s: %s", metrics, exc)
    return row


def write_report(store, key: str = REPORT_KEY) -> str:
    """Build the report from `store`'s tree and write it as `key`; returns the key."""
    report = collect(store)
    store.write_text(key, render(report))
    return key


# ---------------------------------------------------------------------------------------------
# HTML


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _href(key: str) -> str:
    return _e(quote(key))


def _fmt(value: float | None, fmt: str) -> str:
    return "" if value is None else fmt.format(value)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def summary_line(report: Report) -> str:
    """Processed, errors, wall and throughput, as one line of text."""
    n = len(report.rows)
    done, errors = report.count(*DONE_STATES), report.count(ERROR)
    waiting = report.count(SUBMITTED, PROCESSING)
    span = report.span
    parts = [f"{n} dataset{'s' * (n != 1)}", f"{done} processed", f"{errors} error{'s' * (errors != 1)}"]
    if waiting:
        parts.append(f"{waiting} not finished")
    parts.append(f"wall {_duration(span)}")
    if span and span > 0:
        finished = done + errors
        per_hour = finished / span * 3600
        parts.append(f"throughput {per_hour:.0f} datasets/h" if per_hour >= 10 else f"{per_hour:.2f} datasets/h")
    return " · ".join(parts)


def _state_class(state: str) -> str:
    return {PROCESSED: "ok", SYNCED: "ok", ERROR: "bad"}.get(state, "wait")


def _row_html(r: DatasetRow, lazy: bool) -> str:
    thumbs = []
    for thumb, full, label in r.previews[:MAX_THUMBS]:
        thumbs.append(
            f'<a href="{_href(full)}" title="{_e(label)}"><img src="{_href(thumb)}" alt="{_e(label)}" '
            f'height="48"{" loading=lazy" if lazy else ""}></a>'
        )
    more = len(r.previews) - MAX_THUMBS
    if more > 0:
        thumbs.append(f'<span class="more">+{more}</span>')
    links = []
    if r.log_key:
        links.append(f'<a href="{_href(r.log_key)}">log</a>')
    if r.metrics_key:
        links.append(f'<a href="{_href(r.metrics_key)}">metrics</a>')
    reason = f"{r.step}: {r.reason}" if r.reason and r.step else r.reason
    notes = [f'<span class="reason">{_e(reason)}</span>'] if reason else []
    notes += [f'<span class="warn">{_e(w)}</span>' for w in r.warnings[:3]]
    code = "" if r.exit_code is None else f"[{r.exit_code}]"
    finished = iso_utc(r.finished) if r.finished else ""
    wall_v = -1 if r.wall is None else r.wall
    rss_v = -1 if r.peak_rss_mb is None else r.peak_rss_mb
    return (
        f'<tr class="{_state_class(r.state)}">'
        f'<td class="ds" data-v="{_e(r.dataset)}">{_e(r.dataset)}<small>{_e(r.instrument.upper())}</small></td>'
        f'<td data-v="{_e(r.state)}"><span class="badge {_state_class(r.state)}" title="{_e(r.state)}">'
        f"{_e(SHORT_STATES.get(r.state, r.state))}</span></td>"
        f'<td data-v="{_e(r.exit_name)}"><code>{_e(r.exit_name)}{_e(code)}</code></td>'
        f'<td class="num" data-v="{wall_v}">{_fmt(r.wall, "{:.1f}")}</td>'
        f'<td class="num" data-v="{rss_v}">{_fmt(r.peak_rss_mb, "{:.0f}")}</td>'
        f'<td class="num" data-v="{r.n_products}">{r.n_products}</td>'
        f'<td class="thumbs">{"".join(thumbs)}</td>'
        f'<td class="links">{" · ".join(links)}</td>'
        f'<td class="notes" data-v="{_e(reason)}">{"<br>".join(notes)}</td>'
        f'<td class="when" data-v="{r.finished or 0}"><time datetime="{_e(finished)}" title="{_e(finished)}">'
        f"{_e(finished[11:19])}</time></td>"
        "</tr>"
    )


def _nice_step(top: float) -> float:
    """A round tick spacing giving about four ticks up to `top`.

    >>> _nice_step(9.8), _nice_step(302), _nice_step(0.3)
    (2.5, 100, 0.1)
    """
    if top <= 0:
        return 1.0
    raw = top / 4
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def plot_svg(rows: list[DatasetRow]) -> str:
    """Per-dataset wall time (stacked by step) and peak RSS, as two horizontal bar charts in one SVG."""
    if not rows:
        return ""
    bar_h, gap, top, label_w, panel_w, mid = 16, 8, 34, 96, 380, 70
    height = top + len(rows) * (bar_h + gap) + 24
    width = label_w + panel_w + mid + panel_w + 50
    walls = [r.wall or sum(w for _, w in r.steps) for r in rows]
    rsss = [r.peak_rss_mb or 0.0 for r in rows]
    wmax, rmax = max(walls + [1e-9]), max(rsss + [1e-9])
    wstep, rstep = _nice_step(wmax), _nice_step(rmax)
    wtop = wstep * math.ceil(wmax * 1.08 / wstep)  # headroom for the value labels
    rtop = rstep * math.ceil(rmax * 1.08 / rstep)
    x_wall, x_rss = label_w, label_w + panel_w + mid
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="wall time and peak memory per dataset" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" class="plot">'
    ]
    out.append(f'<text x="{x_wall}" y="14" class="title">Wall time per dataset (s), by step</text>')
    out.append(f'<text x="{x_rss}" y="14" class="title">Peak RSS (MB)</text>')
    base = top + len(rows) * (bar_h + gap)
    for x0, tick, ttop in ((x_wall, wstep, wtop), (x_rss, rstep, rtop)):
        n = int(round(ttop / tick))
        for i in range(n + 1):
            x = x0 + panel_w * i / n
            v = tick * i
            label = f"{v:g}" if v < 1e4 else f"{v / 1e3:g}k"
            out.append(f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{base}" class="grid"/>')
            out.append(f'<text x="{x:.1f}" y="{base + 14}" class="tick">{label}</text>')
    for i, (r, wall, rss) in enumerate(zip(rows, walls, rsss, strict=True)):
        y = top + i * (bar_h + gap)
        cls = _state_class(r.state)
        out.append(f'<text x="{label_w - 8}" y="{y + bar_h - 4}" class="label {cls}">{_e(r.dataset)}</text>')
        x = x_wall
        parts = r.steps or ([("total", wall)] if wall else [])
        scale = panel_w / wtop
        for step, w in parts:
            wpx = max(w * scale, 0.0)
            color = STEP_COLORS.get(step, OTHER_STEP_COLOR)
            out.append(
                f'<rect x="{x:.1f}" y="{y}" width="{wpx:.1f}" height="{bar_h}" fill="{color}">'
                f"<title>{_e(r.dataset)} {_e(step)}: {w:.2f} s</title></rect>"
            )
            x += wpx
        if wall:
            out.append(f'<text x="{x + 4:.1f}" y="{y + bar_h - 4}" class="val">{wall:.1f}</text>')
        rpx = rss * panel_w / rtop
        out.append(
            f'<rect x="{x_rss}" y="{y}" width="{rpx:.1f}" height="{bar_h}" fill="{RSS_COLOR}">'
            f"<title>{_e(r.dataset)} peak RSS {rss:.0f} MB</title></rect>"
        )
        if rss:
            out.append(f'<text x="{x_rss + rpx + 4:.1f}" y="{y + bar_h - 4}" class="val">{rss:.0f}</text>')
    lx = x_wall
    for step, color in STEP_COLORS.items():
        out.append(f'<rect x="{lx}" y="20" width="10" height="10" fill="{color}"/>')
        out.append(f'<text x="{lx + 14}" y="29" class="legend">{step}</text>')
        lx += 24 + 7 * len(step)
    out.append("</svg>")
    return "\n".join(out)


CSS = """
:root { --fg:#1d2430; --muted:#667085; --line:#e4e7ec; --ok:#1f7a3f; --okbg:#e3f4e8; --bad:#b42318;
        --badbg:#fdeceb; --wait:#8a5a00; --waitbg:#fff4d6; --accent:#3d6fb4; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--fg);
       margin: 0; background: #f6f7f9; }
header { background: #14213d; color: #fff; padding: 18px 28px 16px; }
header h1 { margin: 0 0 4px; font-size: 20px; font-weight: 600; letter-spacing: .2px; }
header .where { color: #b8c4dc; font-size: 12.5px; word-break: break-all; }
main { padding: 18px 28px 32px; max-width: 1500px; }
.summary { display: flex; flex-wrap: wrap; gap: 10px; margin: 0 0 18px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 10px 16px; min-width: 120px; }
.card b { display: block; font-size: 22px; font-weight: 600; }
.card span { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .5px; }
.card.ok b { color: var(--ok); } .card.bad b { color: var(--bad); }
p.line { color: var(--muted); margin: 0 0 14px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; margin-bottom: 18px;
          overflow-x: auto; }
h2 { font-size: 15px; margin: 0 0 10px; font-weight: 600; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: middle; }
th { font-size: 12px; color: var(--muted); text-transform: uppercase; letter-spacing: .4px; white-space: nowrap;
     user-select: none; }
th.sortable { cursor: pointer; }
th.sortable:hover { color: var(--fg); }
th[aria-sort="ascending"]::after { content: " \\25B2"; font-size: 10px; }
th[aria-sort="descending"]::after { content: " \\25BC"; font-size: 10px; }
tr:hover td { background: #fafbfc; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.ds { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-weight: 600; }
td.ds small { display: block; font: 11px system-ui, "DejaVu Sans", sans-serif; color: var(--muted); }
code { font-size: 12.5px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; white-space: nowrap; }
.badge.ok { background: var(--okbg); color: var(--ok); } .badge.bad { background: var(--badbg); color: var(--bad); }
.badge.wait { background: var(--waitbg); color: var(--wait); }
td.thumbs { white-space: nowrap; }
td.thumbs img { height: 48px; width: auto; border-radius: 3px; margin-right: 4px; background: #000;
                border: 1px solid var(--line); vertical-align: middle; }
td.thumbs img:hover { outline: 2px solid var(--accent); }
.more { color: var(--muted); font-size: 12px; }
td.links { white-space: nowrap; color: var(--muted); }
td.links a { color: var(--accent); }
td.notes { font-size: 12.5px; min-width: 140px; max-width: 420px; }
td.when { color: var(--muted); font-size: 12px; font-variant-numeric: tabular-nums; }
td.notes .reason { color: var(--bad); } td.notes .warn { color: var(--wait); }
svg.plot text { font: 11px system-ui, "DejaVu Sans", sans-serif; fill: var(--fg); }
svg.plot text.title { font-weight: 600; font-size: 12px; }
svg.plot text.label { text-anchor: end; font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
svg.plot text.label.bad { fill: var(--bad); }
svg.plot text.tick { text-anchor: middle; fill: var(--muted); }
svg.plot text.val { fill: var(--muted); }
svg.plot line.grid { stroke: var(--line); }
footer { color: var(--muted); font-size: 12px; }
footer a { color: var(--accent); }
"""

JS = """
(function () {
  var table = document.getElementById('datasets');
  var heads = table.tHead.rows[0].cells;
  function value(row, i, numeric) {
    var v = row.cells[i].getAttribute('data-v');
    if (v === null) { v = row.cells[i].textContent; }
    return numeric ? parseFloat(v) : v.toLowerCase();
  }
  function sortBy(i) {
    var th = heads[i], numeric = th.getAttribute('data-type') === 'num';
    var dir = th.getAttribute('aria-sort') === 'ascending' ? -1 : 1;
    for (var k = 0; k < heads.length; k++) { heads[k].removeAttribute('aria-sort'); }
    th.setAttribute('aria-sort', dir === 1 ? 'ascending' : 'descending');
    var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = value(a, i, numeric), y = value(b, i, numeric);
      if (x < y) { return -dir; } if (x > y) { return dir; }
      return value(a, 0, false) < value(b, 0, false) ? -1 : 1;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  for (var i = 0; i < heads.length; i++) {
    if (heads[i].classList.contains('sortable')) {
      heads[i].addEventListener('click', sortBy.bind(null, i));
    }
  }
})();
"""

COLUMNS = (  # (title, sort type or None)
    ("Dataset", "text"),
    ("State", "text"),
    ("Exit", "text"),
    ("Wall s", "num"),
    ("Peak RSS MB", "num"),
    ("Products", "num"),
    ("Previews", None),
    ("Logs", None),
    ("Error / warnings", "text"),
    ("Finished UTC", "num"),
)


def render(report: Report) -> str:
    """The whole page as one HTML string (no external resources but the tree's own files)."""
    rows = sorted(report.rows, key=lambda r: (r.state != ERROR, r.dataset))  # errors first
    lazy = len(rows) > 60
    measured = [r for r in rows if r.wall or r.peak_rss_mb or r.steps]
    n = len(rows)
    done, errors = report.count(*DONE_STATES), report.count(ERROR)
    walls = [r.wall for r in rows if r.wall is not None]
    rss = [r.peak_rss_mb for r in rows if r.peak_rss_mb is not None]
    cards = [
        ("", n, "datasets"),
        ("ok", done, "processed"),
        ("bad" if errors else "", errors, "errors"),
        ("", _duration(report.span), "batch wall"),
        ("", _duration(sum(walls)) if walls else "n/a", "sum of dataset walls"),
        ("", f"{max(rss):.0f} MB" if rss else "n/a", "largest peak RSS"),
    ]
    heads = "".join(
        f'<th class="sortable" data-type="{kind}">{_e(title)}</th>' if kind else f"<th>{_e(title)}</th>"
        for title, kind in COLUMNS
    )
    logs = " · ".join(f'<a href="{_href(k)}">{_e(PurePosixPath(k).name)}</a>' for k in report.batch_logs)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<link rel="icon" href="data:,">',
        f"<title>caldp report: {done}/{n} processed, {errors} errors</title>",
        f"<style>{CSS}</style></head><body>",
        f'<header><h1>caldp batch report</h1><div class="where">{_e(report.location)} · generated '
        f"{_e(report.generated)}</div></header>",
        "<main>",
        '<div class="summary">'
        + "".join(f'<div class="card {c}"><b>{_e(v)}</b><span>{_e(t)}</span></div>' for c, v, t in cards)
        + "</div>",
        f'<p class="line" id="summary">{_e(summary_line(report))}</p>',
        '<section><h2>Datasets</h2><table id="datasets">',
        f"<thead><tr>{heads}</tr></thead><tbody>",
        *(_row_html(r, lazy) for r in rows),
        "</tbody></table></section>",
        f"<section><h2>Wall time and peak memory</h2>{plot_svg(measured)}</section>" if measured else "",
        f"<footer>Batch logs: {logs or 'none'} · rebuild this page with <code>caldp-report "
        f"{_e(report.location)}</code></footer>",
        "</main>",
        f"<script>{JS}</script>",
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"
