"""What is derived from a reference file, computed once per version of that file.

Every chip of every exposure of an association asks for the same CCDTAB/OSCNTAB rows, IMPHTTAB
modes and so on; parsing them again each time cost more than the lookups. :func:`per_file_version`
keeps ``fn(path)`` keyed by the file's resolved path, inode, size and modification time (a
rewritten file is read again) and a name for what was derived. Threads asking for a value another
thread is computing wait for it instead of repeating the work; an error is never kept (the next
call raises it again). Callers must not modify what they get.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from pathlib import Path

MAX_ENTRIES = 128  # small things: parsed tables, photometry values

_ENTRIES: OrderedDict[tuple, Future] = OrderedDict()
_LOCK = threading.Lock()


def per_file_version(path: os.PathLike | str, name: Hashable, fn: Callable):
    """``fn(path)``, computed once per version of the file at `path` and `name`.

    >>> import tempfile
    >>> calls = []
    >>> with tempfile.NamedTemporaryFile("w", suffix=".txt") as f:
    ...     _ = f.write("x"); f.flush()
    ...     [per_file_version(f.name, "size", lambda p: calls.append(p) or os.path.getsize(p)) for _ in range(3)]
    [1, 1, 1]
    >>> len(calls)
    1
    """
    path = Path(path)
    st = os.stat(path)
    key = (str(path.resolve()), st.st_ino, st.st_size, st.st_mtime_ns, name)
    with _LOCK:
        future = _ENTRIES.get(key)
        owner = future is None
        if owner:
            future = _ENTRIES[key] = Future()
            while len(_ENTRIES) > MAX_ENTRIES:
                _ENTRIES.popitem(last=False)
        else:
            _ENTRIES.move_to_end(key)
    if owner:
        try:
            future.set_result(fn(path))
        except BaseException as exc:
            with _LOCK:
                if _ENTRIES.get(key) is future:
                    del _ENTRIES[key]
            future.set_exception(exc)
            raise
    return future.result()
