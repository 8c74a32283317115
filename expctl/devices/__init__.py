"""Device contract, status, limits, access levels, pseudo-axes and the backend registry."""

from expctl.devices.access import AccessLevel, check_access
from expctl.devices.limits import Limits
from expctl.devices.profile import DeviceSpec, Profile, load_profile
from expctl.devices.protocols import (
    Beamline,
    Checkable,
    Device,
    FacilityArchive,
    FaultInjector,
    HasSafeState,
    Movable,
    Readable,
    Requestable,
    RunControl,
    RunRecord,
    Settable,
    ShotBlock,
    SignalInfo,
    SpotGrid,
    Stoppable,
    Supervised,
    Switchable,
    Triggerable,
)
from expctl.devices.pseudo import LinearPseudoAxis
from expctl.devices.registry import Backend, BackendRegistry
from expctl.devices.status import Status, StatusUpdate, wait_all

__all__ = [
    "AccessLevel", "Backend", "BackendRegistry", "Beamline", "Checkable", "Device",
    "DeviceSpec", "FacilityArchive", "FaultInjector", "HasSafeState", "Limits",
    "LinearPseudoAxis", "Movable", "Profile", "Readable", "Requestable", "RunControl",
    "RunRecord", "Settable", "ShotBlock", "SignalInfo", "SpotGrid", "Status", "StatusUpdate",
    "Stoppable", "Supervised", "Switchable", "Triggerable", "check_access", "load_profile",
    "wait_all",
]
