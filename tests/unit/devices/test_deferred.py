"""Deferred readings: keys now, values on first access, plain numbers wherever they go."""

from __future__ import annotations

import copy
import json
import pickle

import pytest

from expctl.devices.deferred import DeferredReading, Readings, merge_readings
from expctl.engine.codec import decode, encode


def _counting(values):
    calls = []

    def compute(source):
        calls.append(source)
        return dict(values)

    return compute, calls


def test_keys_are_known_without_computing_and_values_are_computed_once():
    compute, calls = _counting({"det.a": 1.5, "det.b": 2.5})
    reading = DeferredReading(("det.a", "det.b"), compute, "shots")
    assert list(reading) == ["det.a", "det.b"] and len(reading) == 2
    assert "det.a" in reading and "nope" not in reading
    assert not reading.resolved and calls == []
    assert reading["det.b"] == 2.5 and reading["det.a"] == 1.5
    assert reading.resolved and calls == ["shots"]
    with pytest.raises(KeyError):
        reading["nope"]
    assert calls == ["shots"]


def test_values_known_at_read_time_are_looked_at_without_computing():
    compute, calls = _counting({"beam.pulse_energy": 512.0})
    reading = DeferredReading(("beam", "beam.pulse_energy"), compute, "shots", {"beam": 1.0})
    assert reading["beam"] == 1.0 and not reading.resolved and calls == []
    assert reading["beam.pulse_energy"] == 512.0 and calls == ["shots"]
    assert list(reading.items()) == [("beam", 1.0), ("beam.pulse_energy", 512.0)]
    assert pickle.loads(pickle.dumps(reading)) == {"beam": 1.0, "beam.pulse_energy": 512.0}


def test_merging_plain_readings_gives_a_dict_like_dict_update():
    merged = merge_readings([{"a": 1.0, "b": 2.0}, {"b": 3.0}])
    assert type(merged) is dict and merged == {"a": 1.0, "b": 3.0}


def test_merged_readings_resolve_only_the_part_a_key_is_in():
    compute, calls = _counting({"det.a": 4.0})
    merged = merge_readings([DeferredReading(("det.a",), compute, 0), {"theta": 11.4}])
    assert isinstance(merged, Readings)
    assert merged["theta"] == 11.4 and calls == []
    assert list(merged) == ["det.a", "theta"] and len(merged) == 2 and calls == []
    assert merged == {"det.a": 4.0, "theta": 11.4} and calls == [0]
    assert merged.get("missing") is None


def test_a_later_device_wins_a_shared_signal_name():
    compute, _ = _counting({"x": 1.0, "y": 2.0})
    merged = merge_readings([DeferredReading(("x", "y"), compute, 0), {"x": 9.0}])
    assert merged["x"] == 9.0 and dict(merged) == {"x": 9.0, "y": 2.0}
    assert list(merged) == ["x", "y"]


def test_pickling_copying_and_journaling_store_plain_numbers():
    compute, _ = _counting({"det.a": 4.0})
    merged = merge_readings([DeferredReading(("det.a",), compute, object()), {"t": 1.0}])
    for twin in (pickle.loads(pickle.dumps(merged)), copy.deepcopy(merged)):
        assert type(twin) is dict and twin == {"det.a": 4.0, "t": 1.0}
    assert decode(json.loads(json.dumps(encode(merged)))) == {"det.a": 4.0, "t": 1.0}
    assert repr(merged) == repr({"det.a": 4.0, "t": 1.0})
