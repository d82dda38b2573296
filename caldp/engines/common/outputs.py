"""What an engine call writes, and the raw files it reads ahead — shared by calacs and calwf3.

:class:`Products` knows every file one call has written, writes products in the background while
the next one is calibrated, and removes them all again if the call fails (HSTCAL's executables
never leave a partial association behind either). :class:`ReadAhead` reads the next input on a
background thread while the current one is calibrated. Both do their work in the calling thread
when ``background`` is False (one thread per dataset, e.g. under a Dask worker per core).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path

from . import trailer
from .errors import EngineError
from .hstio import Exposure, write_exposure


class Products:
    """The files written by one engine call; :meth:`rollback` removes them.

    `cal_ver` is the (value, comment) written as CAL_VER into each product's primary header.
    Background writes go through one writer thread, in the order they were asked for; at most
    `max_pending` products wait for it at a time (each holds its arrays until written).
    """

    def __init__(self, outdir: Path, *, cal_ver: tuple[str, str], background: bool, max_pending: int = 1):
        self.outdir = Path(outdir)
        self.cal_ver = cal_ver
        self.written: list[Path] = []
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="caldp-writer") if background else None
        self._pending: list[Future] = []
        self._max_pending = max(1, max_pending)

    def path(self, name: str) -> Path:
        return self.outdir / name

    def claim(self, names: Sequence[str]) -> None:
        """Refuse, before any work, if a product exists already (HSTCAL never overwrites)."""
        for n in names:
            if (self.outdir / n).exists():
                raise EngineError("output file already exists", file=n)

    def write(self, exposure: Exposure, name: str) -> Path:
        """Write a product now (in the calling thread); safe to call from several threads."""
        exposure.primary["CAL_VER"] = self.cal_ver
        p = write_exposure(exposure, self.outdir / name)
        self.register(p)
        return p

    def write_later(self, exposure: Exposure, name: str) -> None:
        """:meth:`write` on the writer thread; the exposure must not be touched afterwards.
        Waits first while `max_pending` writes are queued. :meth:`flush` waits for them all."""
        if self._pool is None:
            self.write(exposure, name)
            return
        with self._lock:
            pending = [f for f in self._pending if not f.done()]
        while len(pending) >= self._max_pending:
            pending[0].result()
            pending = [f for f in pending if not f.done()]
        future = self._pool.submit(self.write, exposure, name)
        with self._lock:
            self._pending.append(future)

    def flush(self) -> None:
        """Wait for every background write; raise the first error (in the order asked)."""
        with self._lock:
            pending, self._pending = self._pending, []
        wait(pending)
        for f in pending:
            f.result()

    def register(self, path: Path | None) -> None:
        """Count a file written elsewhere as a product of this call (None: nothing was written)."""
        if path is not None:
            with self._lock:
                self.written.append(Path(path))

    def trailer(self, root: str, lines: list[str]) -> Path:
        """Append the call's log lines to ``<root>.tra`` (a new trailer counts as a product)."""
        p = self.outdir / f"{root}.tra"
        existed = p.exists()
        trailer.write_trailer(p, lines, append=True)
        if not existed:
            self.register(p)
        return p

    def close(self) -> None:
        """Wait for the writes (raising the first error) and stop the writer thread."""
        try:
            self.flush()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None

    def rollback(self) -> None:
        """Remove every file this call wrote, including any a failed background write left."""
        try:
            self.close()
        except Exception:  # the failed write is rolled back with the rest
            pass
        for p in self.written:
            try:
                p.unlink()
            except OSError:
                pass


class ReadAhead:
    """``read(item)`` of the next item on a background thread while the caller works on the
    current one (one item ahead: one more input in memory). Errors are raised by :meth:`get` of
    the item they belong to. Thread-safe; with ``background=False`` :meth:`get` just reads.

    >>> with ReadAhead(lambda x: x * 10, [1, 2, 3], background=True) as r:
    ...     [r.get(1), r.get(2), r.get(3)]
    [10, 20, 30]
    """

    def __init__(self, read: Callable, items: Sequence, *, background: bool):
        self.read = read
        self.items = list(items)
        use = background and len(self.items) > 1
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="caldp-reader") if use else None
        self._futures: dict[int, Future] = {}
        self._lock = threading.Lock()

    def _submit(self, i: int) -> None:
        if i < len(self.items) and i not in self._futures:
            self._futures[i] = self._pool.submit(self.read, self.items[i])

    def get(self, item):
        if self._pool is None:
            return self.read(item)
        i = self.items.index(item)
        with self._lock:
            self._submit(i)
            self._submit(i + 1)
            future = self._futures.pop(i)
        return future.result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._futures.clear()

    def __enter__(self) -> ReadAhead:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
