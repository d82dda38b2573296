"""Dataset names (ipppssoot), instruments and which files belong to a dataset.

>>> instrument_of("j8cb010b0")
'acs'
>>> Dataset.parse("J8CB010B0").is_association, Dataset.parse("j8cb01u2q").is_association
(True, False)
>>> Dataset.parse("x").name
Traceback (most recent call last):
...
ValueError: invalid dataset name 'x': expected an HST ipppssoot like j8cb010b0 (9 characters, instrument letter first)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: CALDP's ipppssoot pattern: instrument letter then 8 alphanumerics.
IPPPSSOOT_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]{8}$")

#: First letter of an ipppssoot -> instrument (CALDP's table).
INSTRUMENT_LETTERS = {
    "j": "acs",
    "u": "wfpc2",
    "v": "hsp",
    "w": "wfpc",
    "x": "foc",
    "y": "fos",
    "z": "hrs",
    "e": "eng",
    "f": "fgs",
    "i": "wfc3",
    "n": "nicmos",
    "o": "stis",
    "l": "cos",
}
#: Instruments caldp calibrates.
SUPPORTED_INSTRUMENTS = ("acs", "wfc3", "stis", "cos")

#: Reference-file environment variable per instrument (IRAF style ``jref$``).
REF_ENV = {"acs": "jref", "wfc3": "iref", "stis": "oref", "cos": "lref", "nicmos": "nref", "wfpc2": "uref"}


def instrument_of(name: str) -> str:
    """Instrument name for an ipppssoot; ValueError if the letter is unknown or unsupported."""
    letter = name[:1].lower()
    instrument = INSTRUMENT_LETTERS.get(letter)
    if instrument is None:
        raise ValueError(f"unknown instrument letter {letter!r} in dataset {name!r}")
    if instrument not in SUPPORTED_INSTRUMENTS:
        raise ValueError(
            f"dataset {name!r} is {instrument.upper()}, which caldp does not calibrate "
            f"(supported: {', '.join(SUPPORTED_INSTRUMENTS)})"
        )
    return instrument


@dataclass(frozen=True, slots=True)
class Dataset:
    """An HST dataset id; ``name`` is lower case."""

    name: str

    @classmethod
    def parse(cls, text: str) -> Dataset:
        text = text.strip()
        if not IPPPSSOOT_RE.match(text):
            raise ValueError(
                f"invalid dataset name {text!r}: expected an HST ipppssoot like j8cb010b0 "
                "(9 characters, instrument letter first)"
            )
        return cls(text.lower())

    @property
    def instrument(self) -> str:
        return instrument_of(self.name)

    @property
    def ipppss(self) -> str:
        """The program/visit prefix shared by every file of the dataset (CALDP's search key)."""
        return self.name[:6]

    @property
    def is_association(self) -> bool:
        """Association ids end in a digit (…010b0 → product), exposures in a letter (…u2q)."""
        return self.name[-1].isdigit()

    def __str__(self) -> str:
        return self.name
