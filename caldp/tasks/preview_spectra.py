"""PNG previews of 1-D spectra (``_x1d``, ``_x1dsum*``, ``_sx1``), as CALDP makes for COS and STIS.

One plot per product: flux against wavelength for every row (COS segment/stripe, STIS order),
each in its own colour with a ±ERROR band, axes labelled with units, and the rootname, target,
instrument, grating and central wavelength in the title; plus a 128 px thumbnail of the same
curves without labels. Pixels that carry no data (``DQ_WGT`` 0, or flux and error both 0, as in
the unused ends of a segment) are left out. To stay readable, a row of more than
:data:`MAX_POINTS` pixels is averaged in equal bins (a 16384-pixel FUV segment in bins of 8);
the y range is the 0.5–99.5 % range of the plotted flux with a margin, so a few hot pixels
cannot flatten the spectrum. Beyond :data:`MAX_LEGEND` rows (a STIS echelle ``_x1d`` has one per
order, up to ~70) there is no legend: each row's label is written small above its middle, and the
corner says how many rows there are and which.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)
_DRAWING = threading.Lock()  # one matplotlib figure drawn at a time in this process (see write_spectrum_previews)

MAX_POINTS = 2048
FULL_SIZE_IN, FULL_DPI = (10.0, 5.0), 100
THUMB_PX = 128
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
MAX_LEGEND = 6


def binned(x: np.ndarray, n: int) -> np.ndarray:
    """Mean of consecutive groups of `n` values (the tail shorter than `n` dropped).

    >>> binned(np.arange(10.0), 4).tolist()
    [1.5, 5.5]
    """
    m = (x.size // n) * n
    return x[:m].reshape(-1, n).mean(axis=1) if n > 1 else x


def spectrum_rows(table) -> list[dict]:
    """Plottable rows of an x1d table: label, wavelength, flux, error (good pixels only, binned for display)."""
    names = {n.upper() for n in table.columns.names}
    rows = []
    for i, row in enumerate(table):
        wave = np.asarray(row["WAVELENGTH"], dtype=np.float64)
        flux = np.asarray(row["FLUX"], dtype=np.float64)
        err = np.asarray(row["ERROR"], dtype=np.float64) if "ERROR" in names else np.zeros_like(flux)
        unit = "flux"
        if not flux.any() and "NET" in names:  # FLUXCORR not done (STIS): show the count rate
            flux = np.asarray(row["NET"], dtype=np.float64)
            unit = "rate"
        good = np.isfinite(wave) & np.isfinite(flux) & (wave > 0) & ~((flux == 0) & (err == 0))
        if "DQ_WGT" in names:
            good &= np.asarray(row["DQ_WGT"]) > 0
        if not good.any():
            continue
        label = (
            str(row["SEGMENT"]).strip()
            if "SEGMENT" in names
            else f"order {row['SPORDER']}"
            if ("SPORDER" in names)
            else f"row {i + 1}"
        )
        wave, flux, err = wave[good], flux[good], err[good]
        n = max(1, int(np.ceil(wave.size / MAX_POINTS)))
        rows.append(
            {
                "label": label,
                "wave": binned(wave, n),
                "flux": binned(flux, n),
                "err": np.sqrt(binned(err**2, n) / n),  # error of the bin mean
                "unit": unit,
            }
        )
    return rows


def y_limits(rows: list[dict]) -> tuple[float, float] | None:
    if not rows:
        return None
    flux = np.concatenate([r["flux"] for r in rows])
    lo, hi = np.percentile(flux, [0.5, 99.5])
    pad = 0.08 * (hi - lo) if hi > lo else abs(hi) * 0.1 + 1e-30
    return float(min(lo - pad, 0.0 if lo >= 0 else lo - pad)), float(hi + 2.5 * pad)


def title_of(base: str, header) -> str:
    parts = [str(header.get(k, "")).strip() for k in ("INSTRUME", "DETECTOR", "OPT_ELEM")]
    cenwave = header.get("CENWAVE")
    text = " ".join(p for p in parts if p)
    if cenwave:
        text += f" {cenwave}"
    target = str(header.get("TARGNAME", "")).strip()
    return f"{base}   {target}   {text}".strip()


def write_spectrum_previews(hdul, base: str, outdir: Path) -> list[Path]:
    """``<base>.png`` (1000×500) and ``<base>_thumb.png`` (128×128) of an open x1d product."""
    rows = spectrum_rows(hdul[1].data)
    limits = y_limits(rows)
    # Matplotlib's font cache (shared FT2Font objects) and mathtext parser are not thread-safe:
    # previews run on a thread pool, and concurrent text layout corrupts glyph loading or
    # crashes the process. Array work above runs in parallel; drawing is one figure at a time.
    with _DRAWING:
        return _draw(rows, limits, hdul[0].header, base, outdir)


def _label_rows(ax, rows) -> None:
    """Many rows (echelle orders): each label's number at the top of the axes above the row's middle
    wavelength (alternately higher and lower, so neighbours do not overlap), and one line of text
    naming the rows instead of a legend."""
    trans = ax.get_xaxis_transform()  # x in data, y in axes fraction
    for k, r in enumerate(rows):
        number = r["label"].split()[-1]
        ax.text(
            float(np.median(r["wave"])),
            0.985 - 0.035 * (k % 2),
            number,
            transform=trans,
            ha="center",
            va="top",
            fontsize=6,
            color=COLOURS[k % len(COLOURS)],
        )
    first, last = rows[0]["label"], rows[-1]["label"].split()[-1]
    ax.text(
        0.01,
        0.90,
        f"{len(rows)} rows: {first} … {last} (numbered at the top), ±1σ bands",
        transform=ax.transAxes,
        fontsize=8,
        va="top",
    )


def _draw(rows, limits, header, base: str, outdir: Path) -> list[Path]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    made = []
    for suffix, size_in, labels in (("", FULL_SIZE_IN, True), ("_thumb", (THUMB_PX / FULL_DPI,) * 2, False)):
        fig = Figure(figsize=size_in, dpi=FULL_DPI)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        for k, r in enumerate(rows):
            colour = COLOURS[k % len(COLOURS)]
            ax.fill_between(r["wave"], r["flux"] - r["err"], r["flux"] + r["err"], color=colour, alpha=0.25, lw=0)
            ax.plot(r["wave"], r["flux"], color=colour, lw=0.7 if labels else 0.5, label=r["label"])
        if limits:
            ax.set_ylim(*limits)
        if labels:
            ax.set_xlabel("Wavelength (Å)")
            if rows and all(r.get("unit") == "rate" for r in rows):
                ax.set_ylabel("Net count rate (counts s$^{-1}$)")
            else:
                ax.set_ylabel("Flux (erg s$^{-1}$ cm$^{-2}$ Å$^{-1}$)")
            ax.set_title(title_of(base, header), fontsize=11)
            ax.grid(alpha=0.3)
            if len(rows) > MAX_LEGEND:
                _label_rows(ax, rows)
            elif rows:
                ax.legend(loc="upper left", ncols=len(rows), fontsize=9, title="±1σ bands", title_fontsize=8)
            else:
                ax.text(0.5, 0.5, "no good data", ha="center", va="center", transform=ax.transAxes)
            fig.tight_layout()
        else:
            ax.set_axis_off()
            fig.subplots_adjust(0, 0, 1, 1)
        out = outdir / f"{base}{suffix}.png"
        fig.savefig(out, dpi=FULL_DPI)
        made.append(out)
    log.debug("Spectrum preview of %s: %d rows", base, len(rows))
    return made
