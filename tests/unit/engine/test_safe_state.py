"""Nothing interrupts the safe state: further commands and Ctrl-C wait until it is reached.

Issue 11: on a wall clock a second Ctrl-C raised an internal exception inside the
safe-state drive, leaving the shutter open and the pump on.  These tests press at the
worst moment — while the safe state itself is being driven — on both clocks.
"""

from __future__ import annotations

import signal
import threading

import pytest

from expctl.clock import WallClock
from expctl.engine import Engine, EngineState, EventBus
from expctl.engine.events import SafeStateReached, StepStarted
from expctl.plans import PumpProbeSettings, pump_probe
from expctl.testing import make_fake_beamline
from expctl.ui.progress import ask_after_pause, pause_on_interrupt

SETTINGS = PumpProbeSettings(rock_points=9, rock_span=0.006)


def _plan():
    return pump_probe([0.0, 1.0], spots_per_delay=2, reference_shots=60, settings=SETTINGS)


def _safe(bl) -> tuple[str, str]:
    return bl.devices["xray_shutter"].value, bl.devices["pump"].value


def _during_safe_state(engine: Engine, device: str, action) -> list[int]:
    """Call ``action()`` the first time the safe state drives ``device`` (before its wait)."""
    dev = engine.beamline.devices[device]
    method = "request" if hasattr(dev, "request") else "set"
    original = getattr(dev, method)
    calls: list[int] = []

    def wrapped(value, *args):
        status = original(value, *args)
        if engine.driving_safe_state and not calls:
            calls.append(1)
            action()
        return status

    setattr(dev, method, wrapped)
    return calls


def _pause_now_at_the_pumped_run(engine: Engine):
    def on_event(ev) -> None:
        if isinstance(ev, StepStarted) and engine.state is EngineState.RUNNING \
                and bl_pump_on(engine):
            engine.pause(immediate=True)
    return on_event


def bl_pump_on(engine: Engine) -> bool:
    return engine.beamline.devices["pump"].value == "on"


@pytest.mark.parametrize("command", ["abort", "stop", "pause_now"])
def test_commands_during_the_safe_state_wait_until_it_is_reached_on_a_wall_clock(command):
    bl = make_fake_beamline(WallClock(speed=40.0), velocity=2.0)  # pump latency 2 s = 50 ms
    bus = EventBus()
    engine = Engine(bl, bus=bus, pause_hook=lambda e: e.abort())
    bus.subscribe(_pause_now_at_the_pumped_run(engine))
    late: list[threading.Thread] = []

    def press() -> None:  # from another thread, while the pump-off request is pending
        fn = {"abort": engine.abort, "stop": engine.stop,
              "pause_now": lambda: engine.pause(immediate=True)}[command]
        t = threading.Thread(target=lambda: _ignore_refusal(fn))
        t.start()
        late.append(t)

    calls = _during_safe_state(engine, "pump", press)
    summary = engine.run(_plan())
    for t in late:
        t.join()
    assert calls == [1]
    assert _safe(bl) == ("closed", "off")
    assert summary.outcome in ("aborted", "stopped")
    assert engine.state is EngineState.IDLE
    reached = engine.last_safe_state
    assert reached is not None and reached.failed == ()


def _ignore_refusal(fn) -> None:
    from expctl.errors import IllegalCommand

    try:
        fn()
    except IllegalCommand:
        pass


def test_a_keyboard_interrupt_inside_the_safe_state_is_held_until_it_is_reached(clock):
    bl = make_fake_beamline(clock)
    bus = EventBus()
    seen: list[SafeStateReached] = []
    bus.subscribe(lambda ev: seen.append(ev) if isinstance(ev, SafeStateReached) else None)
    engine = Engine(bl, bus=bus, pause_hook=lambda e: e.abort())
    bus.subscribe(_pause_now_at_the_pumped_run(engine))

    def ctrl_c() -> None:
        raise KeyboardInterrupt

    _during_safe_state(engine, "xray_shutter", ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        engine.run(_plan())
    assert _safe(bl) == ("closed", "off")  # the interrupted close was redone, pump still off
    assert seen[0].reason == "pause"
    assert [c[0] for c in seen[0].changes] == ["xray_shutter", "pump"]
    assert engine.state is EngineState.IDLE


@pytest.mark.parametrize("clock_kind", ["virtual", "wall"])
def test_ctrl_c_three_times_reaches_the_safe_state_then_aborts(clock_kind):
    """Ctrl-C (pause), Ctrl-C (pause now), Ctrl-C during the safe state (abort after it)."""
    clock = WallClock(speed=40.0) if clock_kind == "wall" else None
    bl = make_fake_beamline(clock, velocity=2.0)
    bus = EventBus()
    question_reads: list[str] = []
    question = ask_after_pause(_quiet_console(), read=lambda p: question_reads.append(p) or "r")
    engine = Engine(bl, bus=bus, pause_hook=question)
    notes: list[str] = []
    pressed: list[str] = []

    def on_event(ev) -> None:
        if isinstance(ev, StepStarted) and bl_pump_on(engine) and not pressed:
            pressed.append("twice")
            signal.raise_signal(signal.SIGINT)
            signal.raise_signal(signal.SIGINT)

    bus.subscribe(on_event)
    _during_safe_state(engine, "xray_shutter", lambda: signal.raise_signal(signal.SIGINT))
    with pause_on_interrupt(lambda: engine, notes.append, bus, question) as flags:
        summary = engine.run(_plan())
    assert flags["interrupted"] and pressed == ["twice"]
    assert summary.outcome == "aborted" and engine.state is EngineState.IDLE
    assert _safe(bl) == ("closed", "off")
    assert question_reads == []  # aborted without asking
    assert notes[-1] == "aborting once the safe state is reached"
    # the abort found it already safe, and says what the pause had made safe
    assert engine.last_safe_state.reason == "abort"
    assert engine.last_safe_state.describe() == "xray_shutter open → closed, pump on → off"


def _quiet_console():
    import io

    from rich.console import Console

    return Console(file=io.StringIO(), width=100)
