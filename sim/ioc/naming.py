"""How the simulated IOC names its PVs (the bl3-epics profile spells the same names out).

``<prefix><DEVICE>`` is a device's base name (``BL3:THETA``); a readable signal
``<device>.<what>`` lives at ``<base>:<WHAT>`` (``mpccd.roi0`` → ``BL3:MPCCD:ROI0``);
a per-shot column of the DAQ's shot blocks at ``<prefix>DAQ:BLK:<KEY>`` with ``/``
as ``:`` (``mpccd/ROI_0_sum`` → ``BL3:DAQ:BLK:MPCCD:ROI_0_SUM``).
"""

from __future__ import annotations

__all__ = ["column_pv", "device_base", "signal_pv"]


def device_base(prefix: str, device: str) -> str:
    """The base PV name of ``device``."""
    return f"{prefix}{device.upper()}"


def signal_pv(prefix: str, device: str, signal: str) -> str:
    """The PV of one of ``device``'s readable signals (its own name: the base PV)."""
    base = device_base(prefix, device)
    if signal == device:
        return base
    return f"{base}:{signal.removeprefix(device + '.').upper()}"


def column_pv(prefix: str, key: str) -> str:
    """The waveform PV of one per-shot column of the DAQ's shot blocks."""
    return f"{prefix}DAQ:BLK:{key.replace('/', ':').upper()}"
