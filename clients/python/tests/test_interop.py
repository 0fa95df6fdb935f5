"""Delayed tasks and schedules made by this client read by strand's Go CLI
(`strand status`, `strand schedule list`), and ones made by the Go CLI read
and handled by this client: the two sides of one wire."""

from __future__ import annotations

import datetime
import json
import subprocess
from typing import Any

import strand_client as s

from conftest import Dev, run
from test_client import NOBODY, uid


def strand(bin_: str, dev: Dev, *args: str) -> Any:
    out = subprocess.run([bin_, "--server", dev.url, *args], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_delayed_task_both_ways(dev: Dev, strand_bin: str) -> None:
    async def main() -> None:
        c = await s.connect(dev.url)
        try:
            h = await c.submit("add", 1, 2, queue=NOBODY, after=600, meta={"user": "ann"})
            info = json.loads(strand(strand_bin, dev, "status", "--json", h.id))
            assert info["status"] == "scheduled" and info["queue"] == NOBODY and info["func"] == "add"
            assert h.run_at is not None
            assert datetime.datetime.fromisoformat(info["run_at"].replace("Z", "+00:00")) == h.run_at
            assert info["meta"] == {"user": "ann"}
            await h.cancel()
            assert json.loads(strand(strand_bin, dev, "status", "--json", h.id))["status"] == "cancelled"

            tid = uid("go")
            strand(strand_bin, dev, "submit", "--queue", NOBODY, "--id", tid, "--in", "10m", "add", "4", "5")
            o = await c.open(tid)
            assert await o.status() is s.Status.SCHEDULED and o.queue == NOBODY
            assert o.run_at is not None and o.run_at > datetime.datetime.now(datetime.timezone.utc)
            await o.cancel()
            assert json.loads(strand(strand_bin, dev, "status", "--json", tid))["status"] == "cancelled"
        finally:
            await c.close()
    run(main())


def test_schedules_both_ways(dev: Dev, strand_bin: str) -> None:
    async def main() -> None:
        c = await s.connect(dev.url)
        try:
            mine, theirs = uid("mine"), uid("theirs")
            await c.put_schedule(mine, "30 9 * * 1-5", "add", 1, 2, queue=NOBODY, tz="Europe/Paris")

            def listed() -> dict[str, Any]:
                out = json.loads(strand(strand_bin, dev, "schedule", "list", "--json"))
                return {x["name"]: x for x in out["schedules"]}
            got = listed()[mine]
            assert (got["spec"], got["tz"], got["queue"], got["func"], got["paused"]) == (
                "30 9 * * 1-5", "Europe/Paris", NOBODY, "add", False)
            assert got.get("next_run")  # the Go side computes the next firing from what this client stored
            await c.pause_schedule(mine)
            assert listed()[mine]["paused"] is True

            strand(strand_bin, dev, "schedule", "add", theirs, "--every", "1h", "--queue", NOBODY, "add", "3", "4")
            info = await c.get_schedule(theirs)
            assert (info.spec, info.queue, info.func, list(info.args), info.paused) == (
                "@every 1h0m0s", NOBODY, "add", [3, 4], False)  # the CLI writes --every as Go prints it
            await c.delete_schedule(theirs)
            await c.delete_schedule(mine)
            left = listed()
            assert mine not in left and theirs not in left
        finally:
            await c.close()
    run(main())
