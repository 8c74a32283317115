"""Plans: the action vocabulary, stubs (short verbs) and procedures (whole experiments)."""

from expctl.plans.actions import (
    Action,
    Analyze,
    Checkpoint,
    FaultPolicy,
    Move,
    NextSpot,
    Plan,
    Read,
    Request,
    Set,
    Sleep,
    StepBegin,
    StepEnd,
    TakeRun,
    Trigger,
)
from expctl.plans.procedures import (
    DelayPoint,
    PumpProbeSettings,
    SpotRecord,
    delay_scan,
    pump_probe,
)
from expctl.plans.stubs import (
    AlignmentDecision,
    ScanData,
    align_to_peak,
    checkpoint,
    close_shutter,
    count,
    decide_alignment,
    mv,
    mvr,
    next_spot,
    open_shutter,
    put,
    read,
    request,
    rocking_curve,
    scan,
    step,
    take_run,
    wait,
)

__all__ = [
    "Action", "AlignmentDecision", "Analyze", "Checkpoint", "DelayPoint", "FaultPolicy", "Move",
    "NextSpot", "Plan", "PumpProbeSettings", "Read", "Request", "ScanData", "Set", "Sleep",
    "SpotRecord", "StepBegin", "StepEnd", "TakeRun", "Trigger", "align_to_peak", "checkpoint",
    "close_shutter", "count", "decide_alignment", "delay_scan", "mv", "mvr", "next_spot",
    "open_shutter", "pump_probe", "put", "read", "request", "rocking_curve", "scan", "step",
    "take_run", "wait",
]
