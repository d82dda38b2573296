"""Message history times are ISO 8601 in UTC with milliseconds, readable by datetime.fromisoformat."""

import json
import re
import time
from datetime import UTC, datetime, timedelta

from caldp.messages import ERROR, PROCESSING, SUBMITTED, MessageTree, iso_utc
from caldp.storage import Store

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_history_times_parse_as_utc(tmp_path):
    tree = MessageTree(Store(tmp_path))
    before = datetime.now(UTC)
    for state in (SUBMITTED, PROCESSING, ERROR):
        tree.set_state("j8cb010b0", state)
    after = datetime.now(UTC)
    meta = json.loads((tmp_path / "messages" / ERROR / "j8cb010b0").read_text())
    times = [h["time"] for h in meta["history"]]
    assert [h["state"] for h in meta["history"]] == [SUBMITTED, PROCESSING, ERROR]
    parsed = []
    for text in times:
        assert ISO_Z.match(text), text
        when = datetime.fromisoformat(text)
        assert when.utcoffset() == timedelta(0)
        parsed.append(when)
    # milliseconds are truncated, so allow 1 ms either side
    ms = timedelta(milliseconds=1)
    assert before - ms <= parsed[0] <= parsed[1] <= parsed[2] <= after + ms


def test_iso_utc_round_trips_a_posix_time():
    now = time.time()
    assert abs(datetime.fromisoformat(iso_utc(now)).timestamp() - now) < 0.001
    assert iso_utc(0.5) == "1970-01-01T00:00:00.500Z"
