"""What an engine call writes, and the raw files it reads ahead — shared by calacs and calwf3.

:class:`Products` knows every file one call has written, writes products in the background while
the next one is calibrated, and removes them all again if the call fails (HSTCAL's executables
never leave a partial association behind either). :class:`ReadAhead` reads the next input on a
background thread while the current one is calibrated. Both do their work in the calling thread
when ``background`` is False (one thread per dataset, e.g. under a Dask worker per core).
:class:`Parked` keeps an intermediate exposure's pixels in a private scratch file between two stages
(HSTCAL keeps its ``_blv_tmp`` on disk there too), so a process holds fewer exposures at once.
"""

from __future__ import annotations

import mmap
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path

import numpy as np

from . import trailer
from .errors import EngineError
from .heap import trim_heap
from .hstio import Exposure, ImSet, write_exposure

_ARRAYS = ("sci", "err", "dq", "samp", "time")
_ALIGN = mmap.ALLOCATIONGRANULARITY


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
        self._unwritten = 0  # bytes of arrays queued for the writer and not yet written
        self._progress = threading.Condition(self._lock)

    def path(self, name: str) -> Path:
        return self.outdir / name

    def claim(self, names: Sequence[str]) -> None:
        """Refuse, before any work, if a product exists already (HSTCAL never overwrites)."""
        for n in names:
            if (self.outdir / n).exists():
                raise EngineError("output file already exists", file=n)

    def write(self, exposure: Exposure, name: str, *, release: bool = False, progress=None) -> Path:
        """Write a product now (in the calling thread); safe to call from several threads.
        `release`: the exposure is given up, each array dropped once written."""
        exposure.primary["CAL_VER"] = self.cal_ver
        p = write_exposure(exposure, self.outdir / name, release=release, progress=progress)
        self.register(p)
        return p

    def drain(self, limit: int = 0) -> None:
        """Wait until at most `limit` bytes of queued product arrays are still unwritten (the next
        product then starts while the writer finishes the last of them; memory, not speed)."""
        with self._progress:
            while self._unwritten > limit and any(not f.done() for f in self._pending):
                self._progress.wait(0.05)

    def write_later(self, exposure: Exposure, name: str) -> None:
        """:meth:`write` on the writer thread; the exposure must not be touched afterwards.
        Waits first while `max_pending` writes are queued. :meth:`flush` waits for them all."""
        if self._pool is None:
            self.write(exposure, name, release=True)
            return
        with self._lock:
            pending = [f for f in self._pending if not f.done()]
        while len(pending) >= self._max_pending:
            pending[0].result()
            pending = [f for f in pending if not f.done()]
        arrays = (a for im in exposure.imsets for a in (im.sci, im.err, im.dq, im.samp, im.time))
        left = [sum(a.nbytes for a in arrays if a is not None)]  # bytes still to be written

        def progress(nbytes: int) -> None:
            with self._progress:
                left[0] -= nbytes
                self._unwritten -= nbytes
                self._progress.notify_all()

        def job():
            try:
                return self.write(exposure, name, release=True, progress=progress)
            finally:
                with self._progress:  # what a failed write left counts no more
                    self._unwritten -= left[0]
                    left[0] = 0
                    self._progress.notify_all()

        with self._lock:
            self._unwritten += left[0]
            self._pending.append(self._pool.submit(job))

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


class _ParkMap(mmap.mmap):
    """A shared mapping of a parked file: :meth:`drop_pages` lets written-out pixels leave the
    process (``madvise(MADV_DONTNEED)``; the pixels stay in the file and come back if touched)."""

    def drop_pages(self, part: np.ndarray) -> None:
        addr = getattr(self, "_addr", None)
        if addr is None:
            addr = self._addr = np.frombuffer(self, np.uint8, 1).ctypes.data
        start = part.ctypes.data - addr
        lo = -(-start // mmap.PAGESIZE) * mmap.PAGESIZE
        hi = (start + part.nbytes) // mmap.PAGESIZE * mmap.PAGESIZE
        if 0 <= lo < hi <= len(self) and hasattr(mmap, "MADV_DONTNEED"):
            self.madvise(mmap.MADV_DONTNEED, lo, hi - lo)


class Parked:
    """An exposure whose pixels wait in a private scratch file (its headers stay in memory).

    The arrays are written in native byte order, each at a page-aligned offset, and come back by
    :meth:`imset` / :meth:`exposure` as *shared* mappings of that file: the pages are the page
    cache's (no copy is made to read them, and they leave the process when the arrays are
    dropped), and writing into them changes the parked pixels (ACSREJ's CR mask, ACS2D in place).
    A product written from such arrays lets each part's pages go once written
    (:func:`caldp.engines.common.hstio.write_exposure`), so a product waiting for the writer thread
    shrinks while the next one is calibrated.
    With `background`, the file is written on a thread (:meth:`wait` joins it; :meth:`imset`
    waits). The exposure must not be used by the caller after parking; :meth:`close` removes the
    file.
    """

    def __init__(self, exposure: Exposure, path: Path, *, background: bool = False):
        self.path = Path(path)
        self.primary = exposure.primary
        self.filename = exposure.filename
        self.metas: list[tuple[dict, int, dict]] = []  # per imset: headers, EXTVER, {name: (offset, shape, dtype)}
        offset = 0
        for im in exposure.imsets:
            specs = {}
            for name in _ARRAYS:
                a = getattr(im, name)
                if a is None:
                    continue
                specs[name] = (offset, a.shape, a.dtype.newbyteorder("="))
                offset += -(-a.size * a.dtype.itemsize // _ALIGN) * _ALIGN
            self.metas.append((im.headers, im.extver, specs))
        self.nbytes = offset
        self._exposure = exposure
        self._thread = None
        self._error = None
        self._ready = [threading.Event() for _ in self.metas]  # imset i is in the file
        if background:
            self._thread = threading.Thread(target=self._write_guarded, name="caldp-park", daemon=True)
            self._thread.start()
        else:
            self._write()

    def _write_guarded(self) -> None:
        try:
            self._write()
        except BaseException as exc:  # raised by wait() and imset()
            self._error = exc
            for ready in self._ready:
                ready.set()

    def _write(self) -> None:
        exposure, self._exposure = self._exposure, None
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.ftruncate(fd, self.nbytes)
            for k, (im, (_, _, specs)) in enumerate(zip(exposure.imsets, self.metas, strict=True)):
                for name, (offset, _, dtype) in specs.items():
                    a = np.ascontiguousarray(getattr(im, name), dtype=dtype)  # no copy for a C-order array
                    view = memoryview(a.reshape(-1)).cast("B")
                    done = 0
                    while done < len(view):
                        done += os.pwrite(fd, view[done : done + (1 << 26)], offset + done)
                    del a, view
                    setattr(im, name, None)  # the exposure is given up: each array goes once parked
                trim_heap()
                self._ready[k].set()
        finally:
            os.close(fd)

    def wait(self) -> None:
        """Wait for a background write; raise its error."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            raise self._error

    @property
    def nimsets(self) -> int:
        return len(self.metas)

    def headers(self, i: int) -> dict:
        return self.metas[i][0]

    def imset(self, i: int) -> ImSet:
        """Imset `i` with its arrays mapped from the scratch file (read-write, shared); with a
        background write, as soon as that imset is written."""
        self._ready[i].wait()
        if self._error is not None:
            raise self._error
        headers, extver, specs = self.metas[i]
        start = min(o for o, _, _ in specs.values())
        end = max(o + int(np.prod(s)) * d.itemsize for o, s, d in specs.values())
        with open(self.path, "r+b") as f:
            mm = _ParkMap(f.fileno(), end - start, offset=start)
        arrays = {
            name: np.frombuffer(mm, dtype, int(np.prod(shape)), o - start).reshape(shape)
            for name, (o, shape, dtype) in specs.items()
        }
        return ImSet(headers=headers, extver=extver, **arrays)

    def exposure(self) -> Exposure:
        """The whole exposure, every imset mapped (see :meth:`imset`)."""
        return Exposure(
            primary=self.primary, imsets=[self.imset(i) for i in range(self.nimsets)], filename=self.filename
        )

    def close(self) -> None:
        """Remove the scratch file (after a background write has ended)."""
        try:
            self.wait()
        except BaseException:
            pass
        self.path.unlink(missing_ok=True)
