"""The synchronous wrapper against a real `strand dev`."""

from __future__ import annotations

import uuid

import pytest

import strand_client as s
from strand_client import sync

from conftest import Dev


def test_sync_api(dev: Dev) -> None:
    with sync.connect(dev.url) as c:
        h = c.submit("add", 2, 3)
        assert h.result(timeout=20) == 5
        assert h.status() is s.Status.COMPLETED and h.is_ready()
        assert c.open(h.id).result(timeout=5) == 5

        @c.task("scaled_add")
        def scaled_add(a: int, b: int, *, scale: int = 1) -> int: ...
        assert scaled_add(2, 3, scale=10).result(timeout=20) == 50

        assert list(c.submit("count", 4).items(timeout=20)) == [0, 1, 2, 3]
        got: list[int] = []
        assert c.submit("count", 2).stream(got.append, timeout=20) is not None and got == [0, 1]
        reports: list[s.Progress] = []
        o = c.submit("work", 3, 100).watch_progress(reports.append, timeout=20)
        assert o.result == "done 3 steps" and reports and reports[-1].total == 3

        with pytest.raises(s.UnknownFunc):
            c.submit("nosuch").result(timeout=20)
        q = c.submit("add", 1, 1, queue="nobody", id=f"py-sync-{uuid.uuid4().hex[:8]}")
        assert q.status() is s.Status.PENDING
        q.cancel()
        with pytest.raises(s.Cancelled):
            q.result(timeout=5)
        with pytest.raises(s.WaitTimeout):
            c.submit("sleep", 5000).result(timeout=0.2)


def test_sync_default_client(dev: Dev) -> None:
    @sync.task("add")
    def add(a: int, b: int) -> int: ...

    with sync.connect(dev.url):
        assert add(20, 22).result(timeout=20) == 42
    with pytest.raises(s.StrandError):
        add(1, 2)
