"""Fixtures: a real `strand dev` (NATS with JetStream and a worker with the
demo functions), built once with `go build`, on a free port with a
temporary data directory, stopped by its PID."""

from __future__ import annotations

import asyncio
import os
import threading
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Coroutine, Iterator, Optional, TypeVar

import pytest

ROOT = Path(__file__).resolve().parents[3]  # the repository
# Test this checkout's package, whatever version may be installed.
sys.path.insert(0, str(ROOT / "clients" / "python" / "src"))
VECTORS = ROOT / "testdata" / "vectors"
READY = "ready; Ctrl-C to stop"
T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Runs a coroutine on a fresh event loop (the tests are plain functions)."""
    return asyncio.run(coro)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def strand_bin(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The strand binary: $STRAND_BIN, else built from the repository."""
    given = os.environ.get("STRAND_BIN")
    if given:
        return given
    if shutil.which("go") is None:
        pytest.fail("go is not on PATH: it builds the strand binary the tests run (or set STRAND_BIN)")
    out = tmp_path_factory.mktemp("bin") / "strand"
    subprocess.run(["go", "build", "-o", str(out), "./cmd/strand"], cwd=ROOT, check=True)
    return str(out)


def _die_with_parent() -> None:
    """In the child: on Linux, be killed when the test process dies, so that
    no server outlives an interrupted run."""
    if sys.platform.startswith("linux"):
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Dev:
    """One `strand dev` process: start, stop (by PID), restart on the same
    port and data directory."""

    def __init__(self, binary: str, data: str, env: Optional[dict[str, str]] = None,
                 args: Optional[list[str]] = None) -> None:
        self.binary = binary
        self.data = data
        self.port = free_port()
        self.env = {**os.environ, **(env or {})}
        for k in ("STRAND_SERVER", "STRAND_PREFIX", "STRAND_QUEUES"):
            self.env.pop(k, None)
        self.args = args or []
        self.proc: Optional[subprocess.Popen[str]] = None
        self.log = Path(data).with_suffix(".log")

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> None:
        log = open(self.log, "a")
        self.proc = subprocess.Popen(
            [self.binary, "dev", "--addr", f"127.0.0.1:{self.port}", "--data", self.data, *self.args],
            stdout=subprocess.PIPE, stderr=log, text=True, env=self.env, preexec_fn=_die_with_parent)
        log.close()
        ready = threading.Event()
        seen: list[str] = []

        def read(out: Any) -> None:  # drains stdout for the process's life
            for line in out:
                seen.append(line)
                if line.strip() == READY:
                    ready.set()

        threading.Thread(target=read, args=(self.proc.stdout,), daemon=True).start()
        deadline = time.monotonic() + timeout
        while not ready.wait(0.2):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"strand dev did not start: {''.join(seen)}\n{self.log.read_text()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        """Sends sig to the process (by its PID) and waits for it to end."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


@pytest.fixture(scope="session")
def dev(strand_bin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dev]:
    """A `strand dev` shared by the tests that need no server of their own."""
    d = Dev(strand_bin, str(tmp_path_factory.mktemp("dev") / "data"))
    d.start()
    yield d
    d.stop()


@pytest.fixture
def own_dev(strand_bin: str, tmp_path: Path) -> Iterator[Any]:
    """A factory of `strand dev` processes of the test's own (restart tests)."""
    started: list[Dev] = []

    def make(env: Optional[dict[str, str]] = None, args: Optional[list[str]] = None) -> Dev:
        d = Dev(strand_bin, str(tmp_path / f"data{len(started)}"), env, args)
        started.append(d)
        d.start()
        return d

    yield make
    for d in started:
        d.stop(signal.SIGKILL)


def python_env() -> dict[str, str]:
    """The environment for a child Python that imports strand_client from this checkout."""
    src = str(ROOT / "clients" / "python" / "src")
    env = dict(os.environ)
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


PY = sys.executable
