"""The sequencer: state machine, interpreter, suspenders, journal, estimate, events."""

from expctl.engine.engine import Engine, JournalLike, RunSummary
from expctl.engine.estimate import Estimate, StepTime, estimate
from expctl.engine.events import (
    AnalysisDone,
    EngineEvent,
    EventBus,
    FaultRaised,
    RunContext,
    RunStarted,
    RunStopped,
    ShotBlockTaken,
    SpotConsumed,
    StateChanged,
    StateRestored,
    StepFinished,
    StepStarted,
)
from expctl.engine.journal import (
    CampaignInfo,
    Journal,
    JournaledRun,
    find_unfinished,
    list_campaigns,
)
from expctl.engine.states import COMMANDS, TRANSITIONS, EngineState, mermaid_diagram
from expctl.engine.suspenders import BandSuspender, BeamSuspender, Suspender

__all__ = [
    "COMMANDS", "TRANSITIONS", "AnalysisDone", "BandSuspender", "BeamSuspender",
    "CampaignInfo", "Engine", "EngineEvent", "EngineState", "Estimate", "EventBus",
    "FaultRaised", "Journal", "JournalLike", "JournaledRun", "RunContext", "RunStarted",
    "RunStopped", "RunSummary", "ShotBlockTaken", "SpotConsumed", "StateChanged", "StateRestored",
    "StepFinished", "StepStarted", "StepTime", "Suspender", "estimate", "find_unfinished",
    "list_campaigns", "mermaid_diagram",
]
