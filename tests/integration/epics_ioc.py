"""The simulated IOC in a subprocess, on loopback only, for the epics integration tests.

Every IOC gets a free port (so parallel test runs never collide) and the EPICS_CA*
variables that keep Channel Access on 127.0.0.1: searches go to one address, the
server listens on loopback, beacons never broadcast.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from expctl.clock import WallClock
from expctl.devices.profile import Profile
from expctl.devices.registry import BackendRegistry
from expctl.epics import EpicsBackend
from sim.backend import SimBackend

ROOT = Path(__file__).resolve().parents[2]
#: Simulated seconds per wall second for the IOCs of the tests (and their clients).
SPEED = 20.0
#: Wall seconds an IOC may take to start on a loaded 2-core machine.
START_TIMEOUT = 60.0
#: The ``expctl`` command, run by this interpreter (the child imports the tree of ROOT).
CLI = [sys.executable, "-c", "import sys; from expctl.cli import main; sys.exit(main())"]
#: CLI tests need the ``epics`` backend entry point (an editable install of expctl).
needs_entry_point = pytest.mark.skipif(
    not any(ep.name == "epics" for ep in entry_points(group="expctl.backends")),
    reason="expctl is installed without the epics entry point (reinstall it: pip install -e .)")


def free_port() -> int:
    """A port free for both TCP and UDP on loopback (CA uses both)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            try:
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port


def ca_environment(port: int) -> dict[str, str]:
    """EPICS_CA*/EPICS_CAS* settings confining CA to loopback and ``port``."""
    return {
        "EPICS_CA_ADDR_LIST": "127.0.0.1", "EPICS_CA_AUTO_ADDR_LIST": "NO",
        "EPICS_CAS_INTF_ADDR_LIST": "127.0.0.1", "EPICS_CAS_BEACON_ADDR_LIST": "127.0.0.1",
        "EPICS_CAS_AUTO_BEACON_ADDR_LIST": "NO", "EPICS_CA_SERVER_PORT": str(port),
        "EPICS_CAS_SERVER_PORT": str(port),
    }


class IOC:
    """``python -m sim.ioc`` on one port and data directory; can be killed and restarted."""

    def __init__(self, data_dir: Path, port: int, *, speed: float = SPEED,
                 seed: int | None = None) -> None:
        self.data_dir = data_dir
        self.port = port
        self.speed = speed
        self.seed = seed
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), **ca_environment(port)}
        self.process: subprocess.Popen[str] | None = None
        self.banner = ""

    def start(self) -> IOC:
        args = [sys.executable, "-m", "sim.ioc", "--profile", "bl3", "--prefix", "BL3:",
                "--speed", str(self.speed), "--data-dir", str(self.data_dir)]
        if self.seed is not None:
            args += ["--seed", str(self.seed)]
        self.process = subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + START_TIMEOUT
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            if line.startswith("sim.ioc: serving"):
                self.banner = line.strip()
                return self
        self.kill()
        pytest.fail("the simulated IOC did not start")

    def kill(self) -> None:
        """SIGKILL, as a crashing IOC host would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self._close_pipe()

    def stop(self) -> None:
        """SIGTERM: the IOC ends a running run and exits cleanly."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._close_pipe()

    def _close_pipe(self) -> None:
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()


@contextmanager
def ioc_environment(port: int) -> Iterator[None]:
    """This process's CA settings pointed at ``port`` on loopback, restored afterwards."""
    with pytest.MonkeyPatch.context() as mp:
        for key, value in ca_environment(port).items():
            mp.setenv(key, value)
        yield


def registry() -> BackendRegistry:
    """Both backends, explicitly (the epics one finds its simulated twin through ``sim``)."""
    sim = SimBackend()
    return BackendRegistry({"sim": sim, "epics": EpicsBackend(BackendRegistry({"sim": sim}))})


def profile(reg: BackendRegistry, **epics: object) -> Profile:
    """The bl3-epics profile, with ``epics:`` settings overridden (a shorter connect_timeout)."""
    found = reg.find_profile("bl3-epics")
    return replace(found, raw={**found.raw, "epics": {**found.raw["epics"], **epics}})


def connect(reg: BackendRegistry, data_dir: Path | None = None, speed: float = SPEED,
            **epics: object) -> object:
    """A connected bl3-epics beamline on a wall clock matching the IOC's speed."""
    return reg.connect(profile(reg, **epics), WallClock(speed), data_dir=data_dir)


class Operator:
    """caget/caput from another console (caproto's threading client; its sync client
    would spawn a CA repeater)."""

    def __init__(self) -> None:
        from caproto.threading.client import Context

        self._context = Context(timeout=5.0)

    def _pv(self, name: str) -> object:
        pv, = self._context.get_pvs(name)
        pv.wait_for_connection(timeout=10.0)
        return pv

    def get(self, name: str) -> object:
        """The value (a scalar's first element, text decoded)."""
        data = self._pv(name).read(timeout=5.0).data
        if getattr(data, "dtype", None) is not None and data.dtype.kind == "u":
            return bytes(data).split(b"\0", 1)[0].decode()
        value = data[0]
        return value.decode() if isinstance(value, bytes) else value.item()

    def put(self, name: str, value: object) -> None:
        """Put with completion (enums by index)."""
        self._pv(name).write([value], wait=True, timeout=10.0)

    def close(self) -> None:
        self._context.disconnect(wait=False)
