"""Map failures to CALDP exit codes.

Each phase of processing runs inside :func:`exit_on_exception`, which turns any
exception into a :class:`CaldpError` carrying the phase's exit code and a one-line
reason. Memory failures get their own codes whatever the phase. Only the CLI turns a
CaldpError into ``sys.exit``.
"""

from __future__ import annotations

import contextlib
import errno
import os

from .exit_codes import ExitCode


class CaldpError(Exception):
    """A failure with a CALDP exit code, the failing step and a one-line reason."""

    def __init__(self, code: ExitCode, reason: str, step: str | None = None):
        super().__init__(reason)
        self.code = ExitCode(code)
        self.reason = one_line(reason)
        self.step = step

    def __str__(self) -> str:
        return f"{self.code.name}: {self.reason}"

    def __reduce__(self):  # picklable across Dask workers
        return (CaldpError, (self.code, self.reason, self.step))


def one_line(text: str, limit: int = 400) -> str:
    """Collapse `text` to one line of at most `limit` characters."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def describe(exc: BaseException) -> str:
    """A one-line description of an exception: its message, or its type if it has none."""
    msg = one_line(str(exc))
    return msg or type(exc).__name__


@contextlib.contextmanager
def exit_on_exception(code: ExitCode, step: str, what: str = ""):
    """Run a block; convert any exception into CaldpError(code) for step `step`.

    A CaldpError raised inside keeps its own code. MemoryError and ENOMEM map to the
    memory exit codes. ``CALDP_SIMULATE_ERROR=<step>:<CODE>`` (for tests) fails the
    named step with that code.
    """
    simulated = os.environ.get("CALDP_SIMULATE_ERROR", "")
    if simulated:
        sim_step, _, sim_code = simulated.partition(":")
        if sim_step == step:
            raise CaldpError(ExitCode[sim_code or code.name], f"simulated failure in {step}", step)
    try:
        yield
    except CaldpError as err:
        if err.step is None:
            err.step = step
        raise
    except MemoryError as exc:
        raise CaldpError(ExitCode.CALDP_MEMORY_ERROR, f"{what} MemoryError {describe(exc)}".strip(), step) from exc
    except OSError as exc:
        if exc.errno == errno.ENOMEM:
            raise CaldpError(ExitCode.OS_MEMORY_ERROR, f"{what} {describe(exc)}".strip(), step) from exc
        raise CaldpError(code, f"{what} {describe(exc)}".strip(), step) from exc
    except Exception as exc:
        raise CaldpError(code, f"{what} {describe(exc)}".strip(), step) from exc
