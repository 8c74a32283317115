"""The journal codec rebuilds only registered dataclasses; it never imports what a journal names."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass

import pytest

from expctl.analysis import PeakResult
from expctl.engine.codec import JournalTypes, decode, encode, standard_journal_types
from expctl.errors import DataError
from expctl.units import Quantity


@dataclass(frozen=True)
class Custom:
    """A result type of a user's own analysis."""

    value: float
    label: str


def _round_trip(value, types=None):
    return decode(json.loads(json.dumps(encode(value, types))), types)


def test_standard_results_round_trip_as_themselves() -> None:
    peak = PeakResult(11.4, 0.002, 100.0, 5.0, 1e-5, 2e-5, "fit", "gaussian", 41,
                      frozenset({"edge"}), 1.0, 1.0, 0.5, 1.1)
    back = _round_trip({"rock": peak, "delay": Quantity(1.5, "ps")})
    assert back == {"rock": peak, "delay": Quantity(1.5, "ps")}
    assert type(back["rock"]) is PeakResult


def test_an_unregistered_dataclass_comes_back_as_its_fields() -> None:
    assert _round_trip(Custom(2.5, "x")) == {"value": 2.5, "label": "x"}


def test_registered_types_of_ones_own_round_trip() -> None:
    types = standard_journal_types().with_types(Custom)
    assert _round_trip([Custom(2.5, "x")], types) == [Custom(2.5, "x")]
    with pytest.raises(DataError, match="only dataclasses can be journaled"):
        JournalTypes([dict])


@pytest.mark.parametrize("name", ["os:PathLike", "expctl.engine.engine:Engine",
                                  "sim.world:SimWorld", "subprocess:Popen"])
def test_names_outside_the_registry_are_refused_without_importing(name) -> None:
    module = name.partition(":")[0]
    loaded = module in sys.modules
    with pytest.raises(DataError, match=f"journal names {name}, outside the trusted types"):
        decode({"__dc__": name, "f": {}})
    assert (module in sys.modules) == loaded  # nothing was imported to look the name up
