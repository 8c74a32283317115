"""Connecting a profile's PVs, and saying clearly what did not connect.

Channel Access cannot tell "this PV does not exist" from "its IOC is not
reachable": a search simply gets no answer.  So every PV is searched at once and
the silence is read as a whole.  If *nothing* answered, the IOC or the network is
the problem (an environment fault, exit 1): the message lists the PVs, the
addresses searched and every EPICS_CA_* variable in effect.  If some PVs answered
and others did not, the profile names PVs no server has (a user error, exit 2,
naming each device).
"""

from __future__ import annotations

from expctl.devices.profile import Profile
from expctl.epics.ca import ChannelSet, ca_environment
from expctl.epics.devices import motor_fields
from expctl.epics.wiring import Wiring
from expctl.errors import AggregateError, BackendError, UserError

__all__ = ["channel_names", "connect_channels"]

#: Device roles kept current by monitors (the rest is read on demand).
MONITORED_ROLES = {"setpoint", "readback", "request", "busy", "pv"}


def channel_names(wiring: Wiring) -> tuple[list[str], list[str]]:
    """(monitored, read-on-demand) PV names of a profile's wiring."""
    monitored: list[str] = []
    polled: list[str] = []
    for dev in wiring.devices.values():
        for role, pv in dev.roles.items():
            if dev.kind == "motor" and role == "pv":
                fields = motor_fields(pv)
                monitored += [fields["setpoint"], fields["readback"], fields["done"]]
                polled += [v for k, v in fields.items()
                           if k not in ("setpoint", "readback", "done")]
            else:
                (monitored if role in MONITORED_ROLES else polled).append(pv)
        monitored += dev.signals.values()
        if dev.trigger:
            monitored.append(dev.trigger["shots"])
            polled += [v for k, v in dev.trigger.items() if k != "shots"]
    daq = wiring.daq
    monitored.append(daq.roles["runinfo"])
    polled += [pv for role, pv in daq.roles.items() if role != "runinfo"]
    polled += [*daq.block.values(), *daq.columns.values(), *wiring.settings.faults.values(),
               *wiring.samples.values()]
    if wiring.settings.archive_pv:
        polled.append(wiring.settings.archive_pv)
    seen = set(monitored)
    return list(dict.fromkeys(monitored)), [p for p in dict.fromkeys(polled) if p not in seen]


def _searched() -> str:
    import caproto

    env = ca_environment()
    port = env.get("EPICS_CA_SERVER_PORT", "5064")
    return ", ".join(f"{a}:{port}" if ":" not in a else a for a in caproto.get_address_list())


def connect_channels(profile: Profile, wiring: Wiring) -> ChannelSet:
    """Every PV of ``wiring`` connected, enum labels known and first values in.

    Raises:
        BackendError: nothing answered (IOC down, network, EPICS_CA_* settings).
        AggregateError: of UserErrors, one per device whose PVs no server has.
    """
    monitored, polled = channel_names(wiring)
    settings = wiring.settings
    channels = ChannelSet(monitored, polled, timeout=settings.connect_timeout)
    missing = channels.wait_connected(settings.connect_timeout)
    if not missing:
        channels.prepare(settings.connect_timeout)
        return channels
    owners = wiring.all_pvs()
    by_device: dict[str, list[str]] = {}
    for pv in missing:
        owner = owners.get(pv, owners.get(pv.split(".")[0], "?"))
        by_device.setdefault(owner, []).append(pv)
    served = channels.servers()
    channels.close()
    env = ", ".join(f"{k}={v}" for k, v in ca_environment().items())
    listing = "; ".join(f"{device}: {', '.join(pvs)}" for device, pvs in by_device.items())
    if not served:
        raise BackendError(
            f"profile {profile.name}: none of its {len(missing)} PVs answered within "
            f"{settings.connect_timeout:g} s: {listing}. Searched {_searched()}; in effect: "
            f"{env}",
            hint="Is the IOC running and reachable? For the simulated one: "
                 "`expctl sim-ioc --profile bl3 --prefix BL3:`.")
    servers = ", ".join(sorted(set(served.values())))
    raise AggregateError(
        [UserError(f"{device}: no server has {', '.join(pvs)}", device=device,
                   hint="Check the PV names in the profile.")
         for device, pvs in by_device.items()],
        f"profile {profile.name} ({profile.path}) names PVs that do not exist: "
        f"{len(missing)} of {len(monitored) + len(polled)} got no answer within "
        f"{settings.connect_timeout:g} s while the others are served by {servers}. Searched "
        f"{_searched()}; in effect: {env}")
