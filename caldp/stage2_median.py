"""AstroDrizzle's median image on two cores, with the bits of its serial loop.

``createMedian._median`` cuts the singly drizzled images into sections of rows (overlapping by
``2 * grow``) and combines each section on its own (``min_med``), writing its middle rows into the
median image. A section's result depends only on that section's pixels and the step's parameters,
not on the other sections. So at the first section the step forks a child that runs the same loop
and computes the odd sections (it skips ``min_med`` for the even ones) and sends each result's
bytes through a pipe; the parent computes the even sections and takes the odd ones from the pipe,
in order. The child stops where the loop ends (``_writeImage``); the parent writes the median
file as before. Same inputs, same code, same bytes per section: the median image is the serial
one bit for bit. Only ``min_med`` combinations (AstroDrizzle's default, ``minmed``) are split.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import struct
import sys

import numpy as np

_HEADER = struct.Struct("<Q")


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_exact(fd: int, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError("median child ended early")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def send_array(fd: int, array: np.ndarray) -> None:
    """`array`'s shape, dtype and bytes on `fd` (what :func:`receive_array` reads back)."""
    array = np.ascontiguousarray(array)
    meta = pickle.dumps((array.shape, array.dtype.str))
    _write_all(fd, _HEADER.pack(len(meta)) + meta)
    _write_all(fd, array.data.cast("B") if array.size else b"")


def receive_array(fd: int) -> np.ndarray:
    (size,) = _HEADER.unpack(_read_exact(fd, _HEADER.size))
    shape, dtype = pickle.loads(_read_exact(fd, size))
    dtype = np.dtype(dtype)
    count = int(np.prod(shape))
    return np.frombuffer(_read_exact(fd, count * dtype.itemsize), dtype, count).reshape(shape).copy()


class _Sections:
    """``min_med`` for one ``_median`` call: even sections here, odd ones from the forked child."""

    def __init__(self, min_med):
        self.min_med = min_med
        self.count = 0
        self.child = False
        self.pid = 0
        self.fd = -1

    def _fork(self) -> None:
        rfd, wfd = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child ends in os._exit (see split_median)
            os.close(rfd)
            self.child, self.fd = True, wfd
            return
        os.close(wfd)
        self.pid, self.fd = pid, rfd

    def __call__(self, images, *args, **kwargs):
        k = self.count
        self.count += 1
        if k == 0:
            self._fork()
        if self.child:  # pragma: no cover - runs in the child
            if k % 2 == 0:
                shape = np.shape(images)
                return np.zeros(shape[1:], np.asarray(images[0]).dtype)  # the parent's section
            result = self.min_med(images, *args, **kwargs)
            send_array(self.fd, result)
            return result
        if k % 2 == 0:
            return self.min_med(images, *args, **kwargs)
        return receive_array(self.fd)

    def finish_child(self) -> None:  # pragma: no cover - runs in the child
        with contextlib.suppress(OSError):
            os.close(self.fd)
        os._exit(0)

    def close(self, kill: bool = False) -> bool:
        """Reap the child (killed first with `kill`); True when it ended with status 0."""
        if self.child or not self.pid:
            return True
        with contextlib.suppress(OSError):
            os.close(self.fd)
        if kill:
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
        _, status = os.waitpid(self.pid, 0)
        self.pid = 0
        return os.waitstatus_to_exitcode(status) == 0


def split_median(median, cores: int):
    """``createMedian._median`` whose ``min_med`` sections are shared with a forked child (module docstring).

    One core, or a combination other than minmed, runs the original as it is.
    """

    def run(imageObjectList, paramDict):
        from drizzlepac import createMedian

        if cores < 2 or "minmed" not in str(paramDict.get("combine_type", "")).lower():
            return median(imageObjectList, paramDict)
        sections = _Sections(createMedian.min_med)
        saved = createMedian.min_med, createMedian._writeImage

        def write_image(*args, **kwargs):
            if sections.child:  # pragma: no cover - the child's loop is over
                sections.finish_child()
            return saved[1](*args, **kwargs)

        createMedian.min_med, createMedian._writeImage = sections, write_image
        failed = True
        try:
            out = median(imageObjectList, paramDict)
            failed = False
        except BaseException:
            if sections.child:  # pragma: no cover - never let the child go on as AstroDrizzle
                import traceback

                traceback.print_exc()
                sys.stderr.flush()
                os._exit(1)
            raise
        finally:
            createMedian.min_med, createMedian._writeImage = saved
            if sections.child:  # pragma: no cover
                sections.finish_child()
            ok = sections.close(kill=failed)
        if not ok:
            raise RuntimeError("median: the child computing the odd sections failed")
        return out

    return run
