"""Calibration engines and how to choose one (``--engine builtin|hstcal|auto``)."""

from __future__ import annotations

from .base import Engine, Stage1Request
from .common.errors import EngineError

ENGINE_NAMES = ("builtin", "hstcal", "auto")


def get_engine(name: str, instrument: str) -> Engine:
    """The engine to calibrate `instrument` with; ``auto`` prefers HSTCAL when on PATH."""
    from .builtin import BuiltinEngine
    from .hstcal import HstcalEngine

    if name == "builtin":
        return BuiltinEngine()
    if name == "hstcal":
        return HstcalEngine()
    if name == "auto":
        hstcal = HstcalEngine()
        return hstcal if hstcal.supports(instrument) else BuiltinEngine()
    raise ValueError(f"unknown engine {name!r}: use one of {', '.join(ENGINE_NAMES)}")


__all__ = ["Engine", "EngineError", "Stage1Request", "get_engine", "ENGINE_NAMES"]
