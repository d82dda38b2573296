"""The messages tree: one file per dataset, in the directory named after its state.

``<out>/messages/<state>/<ipppssoot>`` holds JSON metadata (times, exit code name and
number, failing step, one-line reason, products). Anyone can ``ls`` the tree to see where
every dataset is; the file moves between state directories, so a dataset is in exactly
one state (a rename on local disk; copy-then-delete on S3).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from .storage import Store

SUBMITTED = "dataset-submitted"
PROCESSING = "dataset-processing"
PROCESSED = "datasets-processed"
ERROR = "dataset-error"
SYNCED = "dataset-synced"
STATES = (SUBMITTED, PROCESSING, PROCESSED, ERROR, SYNCED)


@dataclass(frozen=True, slots=True)
class Message:
    dataset: str
    state: str
    metadata: dict


class MessageTree:
    """The ``messages/`` tree under a store's root."""

    def __init__(self, store: Store, prefix: str = "messages"):
        self.store = store
        self.prefix = prefix

    def key(self, state: str, dataset: str) -> str:
        return f"{self.prefix}/{state}/{dataset}"

    def states_of(self, dataset: str) -> list[str]:
        return [s for s in STATES if self.store.exists(self.key(s, dataset))]

    def state_of(self, dataset: str) -> str | None:
        states = self.states_of(dataset)
        return states[0] if states else None

    def read(self, dataset: str) -> Message | None:
        state = self.state_of(dataset)
        if state is None:
            return None
        text = self.store.read_text(self.key(state, dataset))
        return Message(dataset, state, json.loads(text) if text.strip() else {})

    def set_state(self, dataset: str, state: str, **metadata) -> Message:
        """Move `dataset`'s message to `state`, merging `metadata` into what it holds."""
        if state not in STATES:
            raise ValueError(f"unknown message state {state!r}")
        previous = self.read(dataset)
        merged = dict(previous.metadata) if previous else {}
        merged.update(metadata)
        merged["dataset"] = dataset
        merged["state"] = state
        merged.setdefault("history", [])
        merged["history"] = [*merged["history"], {"state": state, "time": _now()}]
        target = self.key(state, dataset)
        if previous and previous.state != state:
            self.store.move(self.key(previous.state, dataset), target)
        self.store.write_text(target, json.dumps(merged, indent=1, sort_keys=True, default=str) + "\n")
        for other in self.states_of(dataset):  # a crash between move and delete must not leave two
            if other != state:
                self.store.delete(self.key(other, dataset))
        return Message(dataset, state, merged)

    def datasets_in(self, state: str) -> list[str]:
        prefix = f"{self.prefix}/{state}/"
        return sorted(k[len(prefix) :] for k in self.store.list(f"{self.prefix}/{state}") if k.startswith(prefix))


def iso_utc(when: float | None = None) -> str:
    """An ISO 8601 UTC time with milliseconds, e.g. ``2026-12-04T15:08:08.532Z`` (``datetime.fromisoformat``
    reads it back, timezone-aware); `when` is a POSIX time (default: now).

    >>> iso_utc(1796396888.532)
    '2026-12-04T15:08:08.532Z'
    >>> datetime.fromisoformat(iso_utc(1796396888.532)).timestamp()
    1796396888.532
    """
    moment = datetime.now(UTC) if when is None else datetime.fromtimestamp(when, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _now() -> str:
    return iso_utc()
