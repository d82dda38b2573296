"""The one exception the builtin engines raise for bad input."""

from __future__ import annotations


class EngineError(Exception):
    """Calibration cannot proceed; says which file and keyword are at fault.

    >>> str(EngineError("reference file has the wrong shape", file="x_bia.fits", keyword="BIASFILE"))
    'x_bia.fits: BIASFILE: reference file has the wrong shape'
    """

    def __init__(self, message: str, *, file: object = None, keyword: str | None = None):
        self.message = message
        self.file = None if file is None else str(file)
        self.keyword = keyword
        parts = [p for p in (self.file, keyword, message) if p]
        super().__init__(": ".join(parts))

    def __reduce__(self):
        return (_rebuild, (self.message, self.file, self.keyword))


def _rebuild(message, file, keyword):
    return EngineError(message, file=file, keyword=keyword)
