"""Leaving the console with the X-ray shutter open asks first: close it, leave it, or stay.

An operator who types ``exit`` at the end of a shift must not walk away from an open
shutter by accident; one who means to (the next shift takes over) says so.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from expctl.shell.app import Shell

__all__ = ["may_leave"]


def may_leave(sh: Shell, ask: Callable[[str], str]) -> bool:
    """Whether the console may end now.

    Nothing to ask when not connected, while commands run or wait (they finish first,
    as before), or with the shutter closed.  Otherwise ``y`` closes it (on the worker,
    as any command) and leaves, ``n`` leaves it open, anything else stays; an input
    that has ended (nobody to answer) leaves it as it is.
    """
    name = sh.settings.shutter
    session = sh._session
    if session is None or not sh.worker.idle:
        return True
    device = session.beamline.devices.get(name)
    if getattr(device, "state", None) != "open":
        return True
    try:
        answer = ask(f"{name} is open. Close it before leaving? [y]es close / [n]o leave it "
                     "open / [c]ancel: ")
    except EOFError:
        answer = "n"
    except KeyboardInterrupt:
        answer = "c"
    choice = answer.strip().lower()[:1]
    if choice == "n":
        sh.write(f"leaving with {name} open")
        return True
    if choice != "y":
        sh.write("staying")
        return False
    done = threading.Event()
    closed: list[bool] = []

    def close() -> None:
        from expctl.plans.stubs import close_shutter
        from expctl.shell.commands import describe_error

        try:
            sh.run_plan(lambda: close_shutter(name))
            closed.append(True)
            sh.write(f"{name} closed")
        except Exception as exc:  # the loop never dies: say why and stay
            sh.write(describe_error(exc))
        finally:
            done.set()

    sh.queue(f"close {name}", close)
    done.wait()
    return bool(closed)
