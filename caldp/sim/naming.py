"""Dataset and reference-file names.

Dataset names are valid ipppssoots (``caldp.datasets.IPPPSSOOT_RE``): association ids end in
``0`` and their members in ``q``; reference names put the instrument letter just before the
suffix underscore, as HST references do.

>>> dataset_names("acs-wfc-asn", 0, members=2)
('jcs101010', ['jcs101a1q', 'jcs101a2q'])
>>> dataset_names("wfc3-ir", 1, members=1)
('ics502a1q', ['ics502a1q'])
>>> RefNamer("acs", "WFC", "small").name("bia")
'swsa0001j_bia.fits'
"""

from __future__ import annotations

from collections import Counter

MODE_PROGRAM = {
    "acs-wfc-asn": ("j", "1"),
    "acs-wfc": ("j", "2"),
    "acs-hrc-asn": ("j", "3"),
    "wfc3-uvis-asn": ("i", "4"),
    "wfc3-ir": ("i", "5"),
    "wfc3-ir-asn": ("i", "6"),
    "acs-wfc-cte-asn": ("j", "c"),
    "wfc3-uvis-cte-asn": ("i", "c"),
    "wfc3-ir-rpt-asn": ("i", "7"),
}
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"
LETTERS = {"acs": "j", "wfc3": "i"}


def _visit(index: int) -> str:
    n = index + 1
    if not 0 < n < 36 * 36:
        raise ValueError(f"dataset index {index} out of range (at most {36 * 36 - 1} per mode)")
    return _B36[n // 36] + _B36[n % 36]


def dataset_names(mode: str, index: int, *, members: int) -> tuple[str, list[str]]:
    """(dataset name, member rootnames) of the `index`-th dataset of `mode`."""
    letter, prog = MODE_PROGRAM[mode]
    ipppss = f"{letter}cs{prog}{_visit(index)}"
    exposures = [f"{ipppss}a{k + 1}q" for k in range(members)]
    if mode.endswith("-asn"):
        return f"{ipppss}010", exposures
    return exposures[0], exposures


class RefNamer:
    """Deterministic reference names per (instrument, detector, size): ``s<d><s><series><nnn><letter>_<sfx>``
    (series ``a``: the mode's references; ``q``: those of the optional quirks)."""

    def __init__(self, instrument: str, detector: str, size: str, series: str = "a"):
        self.letter = LETTERS[instrument]
        self.prefix = f"s{detector[0].lower()}{size[0].lower()}{series}"
        self.count: Counter = Counter()

    def name(self, suffix: str) -> str:
        self.count["n"] += 1
        return f"{self.prefix}{self.count['n']:04d}{self.letter}_{suffix}.fits"
