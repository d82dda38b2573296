"""Calibration switches, as HSTCAL reads and writes them (``lib/getswitch.c``).

>>> from astropy.io import fits
>>> h = fits.Header({"DARKCORR": "perform", "FLATCORR": "SKIPPED"})
>>> read_switch(h, "DARKCORR"), read_switch(h, "FLATCORR"), read_switch(h, "SHADCORR")
(<Switch.PERFORM: 'PERFORM'>, <Switch.OMIT: 'OMIT'>, <Switch.OMIT: 'OMIT'>)
>>> read_switch(fits.Header({"X": "maybe"}), "X")
Traceback (most recent call last):
...
caldp.engines.common.errors.EngineError: X: switch value 'maybe' is not PERFORM, OMIT, COMPLETE or SKIPPED
"""

from __future__ import annotations

from enum import StrEnum

from .errors import EngineError


class Switch(StrEnum):
    PERFORM = "PERFORM"
    OMIT = "OMIT"
    COMPLETE = "COMPLETE"
    SKIPPED = "SKIPPED"


def read_switch(header, name: str, *, complete_means_done: bool = True) -> Switch:
    """A switch as the engine should act on it.

    Missing → OMIT; SKIPPED → OMIT (HSTCAL treats them alike on read). COMPLETE stays
    COMPLETE (the step was done already) unless ``complete_means_done`` is False.
    """
    value = header.get(name)
    if value is None or str(value).strip() == "":
        return Switch.OMIT
    text = str(value).strip().upper()
    try:
        sw = Switch(text)
    except ValueError:
        raise EngineError(
            f"switch value {value!r} is not PERFORM, OMIT, COMPLETE or SKIPPED", keyword=name
        ) from None
    if sw is Switch.SKIPPED:
        return Switch.OMIT
    if sw is Switch.COMPLETE and not complete_means_done:
        return Switch.PERFORM
    return sw


def is_perform(header, name: str) -> bool:
    return read_switch(header, name) is Switch.PERFORM


def mark(header, name: str, value: Switch, history: str | None = None) -> None:
    """Write a switch's new value (and one HISTORY line saying why)."""
    header[name] = str(value)
    if history:
        header.add_history(history)
