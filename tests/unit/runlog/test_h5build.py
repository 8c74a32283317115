"""Run files built through h5py's low-level API and copied from skeletons hold what h5py's
high-level API would have made: the same values, types, creation properties and links."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from expctl.runlog import RunFileWriter, h5build, run_file_path
from expctl.runlog.skeletons import Skeletons, frozen
from expctl.testing.synthetic_events import synthetic_run

CONFIG = {"rate_hz": 30.0, "mode": "pink", "n": 3, "flag": True, "none": None,
          "roi": [0, 492, 532], "gains": np.array([1.5, 2.5], dtype=np.float32),
          "ids": ["MPCCD-1", "MPCCD-2"], "nested": {"a/b": -0.0, "deep": {"x": 1}},
          "scale": np.float32(0.5), "ok": np.bool_(True)}


def _describe(group: h5py.Group) -> dict[str, object]:
    """Everything a reader can see of a tree: per object its kind, attributes, and for a
    dataset dtype, shape, value, layout, chunks, filters and fill value."""
    out: dict[str, object] = {}

    def visit(name: str, obj: object) -> None:
        entry: dict[str, object] = {"attrs": {k: repr(v) for k, v in obj.attrs.items()}}
        if isinstance(obj, h5py.Dataset):
            dcpl = obj.id.get_create_plist()
            entry |= {"dtype": str(obj.dtype), "string": h5py.check_string_dtype(obj.dtype),
                      "shape": obj.shape, "maxshape": obj.maxshape, "value": repr(obj[()]),
                      "chunks": obj.chunks, "compression": obj.compression,
                      "opts": obj.compression_opts, "shuffle": obj.shuffle,
                      "fill": repr(obj.fillvalue), "layout": dcpl.get_layout()}
        out[name] = entry

    group.visititems(visit)
    return out


def test_mapping_and_attributes_as_h5py_makes_them(tmp_path):
    with h5py.File(tmp_path / "hl.h5", "w") as f:
        hl = f.create_group("cfg")
        for key, value in CONFIG.items():
            _hl_mapping(hl, key, value)
        hl.attrs.update({"units": "mm", "shots": 30, "t": 1.5, "w": np.float64(2.0)})
    with h5py.File(tmp_path / "ll.h5", "w") as f:
        group = h5build.group(f.id, "cfg")
        h5build.write_mapping(group, CONFIG)
        h5build.set_attrs(group, {"units": "mm", "shots": 30, "t": 1.5, "w": np.float64(2.0)})
    with h5py.File(tmp_path / "hl.h5") as a, h5py.File(tmp_path / "ll.h5") as b:
        assert _describe(a) == _describe(b)
        assert dict(a["cfg"].attrs) == dict(b["cfg"].attrs)


def _hl_mapping(group: h5py.Group, key: str, value: object) -> None:
    """What the run writer wrote through h5py's high-level API before (the reference)."""
    from expctl.runlog.h5util import json_attr

    name = key.replace("/", "_")
    if isinstance(value, dict):
        sub = group.require_group(name)
        for k, v in value.items():
            _hl_mapping(sub, k, v)
    elif value is None:
        group.create_dataset(name, data="")
    elif type(value) in (str, int, float, np.float64, np.int64):
        group.create_dataset(name, data=value)
    else:
        arr = np.asarray(value)
        if arr.dtype.kind in "OU":
            group.create_dataset(name, data=json_attr(value), dtype=h5py.string_dtype())
        else:
            group.create_dataset(name, data=arr.astype(np.uint8) if arr.dtype.kind == "b"
                                 else arr)


@pytest.mark.parametrize("blocks", [[30], [10, 10, 10], [300, 50], [0, 5]])
def test_columns_grow_by_block_with_fill_and_filters_as_h5py(tmp_path, blocks):
    """A first chunk written whole (filtered here) reads back like HDF5's own writes, and
    later blocks extend it through HDF5."""
    rng = np.random.default_rng(1)
    values = {"f": rng.normal(size=sum(blocks)), "i": np.arange(sum(blocks), dtype=np.int64),
              "b": (np.arange(sum(blocks)) % 2).astype(np.uint8)}
    with h5py.File(tmp_path / "ll.h5", "w") as f:
        for key, arr in values.items():
            comp = {"compression": "gzip", "compression_opts": 1, "shuffle": True}
            fill = np.nan if arr.dtype.kind == "f" else 0
            chunks = (max(256, blocks[0]),)
            col = h5build.Column(h5build.column(f.id, key, arr.dtype, (), chunks=chunks,
                                                fill=fill, compression=comp),
                                 arr.dtype, (), chunks, fill, comp)
            start = 0
            for n in blocks:
                h5build.append(col, start, arr[start:start + n], n)
                start += n
            h5build.append(col, start, None, 2)  # a column missing from a block: fill
    with h5py.File(tmp_path / "ll.h5") as f:
        for key, arr in values.items():
            stored = f[key][()]
            assert stored.dtype == arr.dtype and len(stored) == len(arr) + 2
            assert np.array_equal(stored[:len(arr)], arr)
            if arr.dtype.kind == "f":
                assert np.isnan(stored[len(arr):]).all()
            else:
                assert (stored[len(arr):] == 0).all()


def test_frozen_tells_apart_what_is_written_differently():
    assert frozen({"a": 1}) == frozen({"a": 1})
    assert len({frozen(v) for v in (1, 1.0, True, np.int64(1), np.float32(1))}) == 5
    assert frozen(-0.0) != frozen(0.0)
    assert frozen(np.array([1, 2], dtype=np.int32)) != frozen(np.array([1, 2]))
    assert frozen({"f": lambda: 0}) is None  # not kept: built every time


def test_a_kept_tree_is_copied_whole_and_refilled(tmp_path):
    skeletons = Skeletons()
    built: list[int] = []

    def build(group):
        built.append(1)
        h5build.write_mapping(group, {"total": 1.0, **CONFIG})

    def refill(group):
        h5build.overwrite(group, {"total": 2.0})

    try:
        with h5py.File(tmp_path / "a.h5", "w") as a, h5py.File(tmp_path / "b.h5", "w") as b:
            skeletons.group(a.id, "cfg", frozen(CONFIG), build, refill)
            skeletons.group(b.id, "cfg", frozen(CONFIG), build, refill)
            skeletons.group(b.id, "other", None, build, refill)  # no key: built
    finally:
        skeletons.close()
    assert len(built) == 2
    with h5py.File(tmp_path / "a.h5") as a, h5py.File(tmp_path / "b.h5") as b:
        assert b["cfg/total"][()] == 2.0 and a["cfg/total"][()] == 1.0
        described = _describe(b["cfg"])
        described.pop("total")
        reference = _describe(a["cfg"])
        reference.pop("total")
        assert described == reference


def test_runs_of_a_campaign_share_their_layout_not_their_values(tmp_path):
    """The second run's columns, links and sums come from the first run's skeletons: the
    files differ in values only, and the conventional names stay hard links."""
    rng = np.random.default_rng(3)
    writer = RunFileWriter(tmp_path)
    for run in (1, 2):
        for event in synthetic_run(run, shots=40, label="reference", laser=False, delay=1.0,
                                   start_tag=1000 * run, start_time=1.768e9 + run, rng=rng,
                                   block_size=25):
            writer(event)
    writer.close()
    with h5py.File(run_file_path(tmp_path, 3, 1)) as a, \
            h5py.File(run_file_path(tmp_path, 3, 2)) as b:
        layout_a, layout_b = _describe(a), _describe(b)
        assert layout_a.keys() == layout_b.keys()
        assert ".columns" not in a and ".columns" not in b
        for name in layout_a:
            for part in ("dtype", "shape", "chunks", "compression", "shuffle", "fill"):
                assert layout_a[name].get(part) == layout_b[name].get(part), (name, part)
        assert np.array_equal(b["tag"][()], 2000 + 2 * np.arange(40))
        assert b["fiducials"].id == b["tag"].id == b["entry/data/tag"].id
        assert b["Sums/mpccd_ROI_0_sum"][()] == pytest.approx(b["mpccd/ROI_0_sum"][()].sum())
        assert a["Sums/mpccd_ROI_0_sum"][()] != b["Sums/mpccd_ROI_0_sum"][()]
        assert b.attrs["run"] == 2 and b["entry/entry_identifier"][()] == b"2"


def test_columns_under_groups_the_start_made_land_inside_them(tmp_path):
    """A column named into ``entry/`` or ``epicsOnce/`` joins that group (as h5py's
    intermediate groups did), in a built and in a copied run alike."""
    import dataclasses

    from expctl.engine.events import ShotBlockTaken

    rng = np.random.default_rng(4)
    writer = RunFileWriter(tmp_path)
    for run in (1, 2):
        for event in synthetic_run(run, shots=20, label="reference", laser=False, delay=0.0,
                                   start_tag=100 * run, start_time=1.768e9 + run, rng=rng):
            if isinstance(event, ShotBlockTaken):
                extra = {"entry/counter": np.arange(20, dtype=np.int64),
                         "epicsOnce/ring_current": np.full(20, 99.5)}
                block = dataclasses.replace(event.block, data={**event.block.data, **extra})
                event = dataclasses.replace(event, block=block)
            writer(event)
    writer.close()
    for run in (1, 2):
        with h5py.File(run_file_path(tmp_path, 3, run)) as f:
            assert np.array_equal(f["entry/counter"][()], np.arange(20))
            assert f["epicsOnce/ring_current"].shape == (20,)
            assert "theta" in f["epicsOnce"] and "data" in f["entry"]
            assert f["entry/data/entry_counter"].id == f["entry/counter"].id


@pytest.mark.parametrize("value", ["plain", "café ✓", "", "a\0b", "\udcff", 2**70, -2**63,
                                   2**63 - 1, -0.0, float("nan"), np.float64(2.5),
                                   np.int64(-7), True, np.float32(0.5)])
def test_attributes_through_hdf5s_c_functions_match_h5py(tmp_path, value):
    """What HDF5's C functions write (or hand back to h5py: NUL, surrogates, huge ints,
    other types) reads back as h5py's own ``attrs[...] =``, failures included."""
    def outcome(write):
        with h5py.File(tmp_path / "f.h5", "w") as f:
            try:
                write(f)
            except Exception as exc:  # noqa: BLE001 (the same failure on both sides)
                return type(exc)
            stored = f.attrs["a"], f["/"].attrs.get_id("a").dtype
            return repr(stored[0]), stored[1]

    def ours(f):
        h5build.set_attrs(f.id, {"a": value})
        h5build.set_attrs(f.id, {"a": value})  # (an existing attribute replaced)

    def theirs(f):
        f.attrs["a"] = value

    assert outcome(ours) == outcome(theirs)
