"""The per-shot datasets of a run file: made with its first shot block, with their
attributes, conventional names (hard links) and the NeXus ``/entry/data`` group.

The runs of a campaign have the same columns, so the whole tree — datasets still
empty, attributes, links — is built once under a scratch group, kept by the
writer's :class:`~expctl.runlog.skeletons.Skeletons` under a key that says
everything it was built from, and copied for every later run with an equal key;
the copy's members are then moved to their places (``/tag``, ``/mpccd/…``,
``/entry/data``).  Built or copied, the file holds the same objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from expctl.runlog import h5build
from expctl.runlog.h5build import set_attrs
from expctl.runlog.h5util import compression_for
from expctl.runlog.skeletons import Skeletons, frozen
from expctl.runlog.smalldata import EVENT_TIME_ENCODING

if TYPE_CHECKING:
    import h5py

__all__ = ["create_columns"]

_MAX_CHUNK = 65536
_MIN_CHUNK = 256
#: Where the tree is built or copied before its members move to their places.
_SCRATCH = ".columns"

#: Attributes of the columns every run file has, beyond their unit.
_COLUMN_ATTRS: dict[str, dict[str, str]] = {
    "tag": {"description": "facility tag (60 Hz counter) of each shot; also linked as "
                           "fiducials, where smalldata readers look (not an LCLS fiducial)"},
    "event_time": {"encoding": EVENT_TIME_ENCODING, "units": ""},
    "scan/varStep": {"description": "index of the scan value this run was taken at "
                                    "(0 outside a scan)", "units": ""},
}


def create_columns(root: h5py.h5g.GroupID, columns: Mapping[str, np.ndarray],
                   units: Mapping[str, str], aliases: Mapping[str, str],
                   skeletons: Skeletons | None) -> dict[str, h5build.Column]:
    """Create the per-shot datasets of ``columns`` (first blocks' values: dtypes, row
    shapes, compression) under ``root``, empty, with ``aliases`` (conventional name ->
    column) and NeXus links; returns them by column."""
    from h5py import h5d, h5g

    specs = {key: _spec(key, arr, units) for key, arr in columns.items()}
    wanted = {alias: key for alias, key in aliases.items()
              if key in specs and not h5g._path_valid(root, alias.encode(), None)}
    linked = [key for key, spec in specs.items()
              if not spec["rest"] and spec["dtype"] != "str"
              and np.dtype(spec["dtype"]).kind in "iuf"]
    signal = _nexus_signal([key.replace("/", "_") for key in linked])

    def build(tree: Any) -> None:
        _build(tree, specs, wanted, linked, signal)

    if skeletons is None:
        tree = h5build.group(root, _SCRATCH)
        build(tree)
    else:
        tree = skeletons.group(root, _SCRATCH, frozen((specs, wanted)), build)
    _move_members(tree, root)
    root.unlink(_SCRATCH.encode())
    if signal is not None:
        set_attrs(h5g.open(root, b"entry"), {"default": "data"})
    return {key: h5build.Column(h5d.open(root, key.encode()), _dtype(spec), spec["rest"],
                                spec["chunks"], spec["fill"], spec["compression"])
            for key, spec in specs.items()}


def _dtype(spec: Mapping[str, Any]) -> np.dtype[Any]:
    import h5py

    return h5py.string_dtype() if spec["dtype"] == "str" else np.dtype(spec["dtype"])


def _move_members(source: Any, target: Any) -> None:
    """Move every member of group ``source`` into group ``target``; a group both have
    (``entry``, for ``entry/data``) has its members moved in turn."""
    from h5py import h5g, h5o

    for name in list(source):
        if (target.links.exists(name) and h5o.get_info(target, name).type == h5o.TYPE_GROUP
                and h5o.get_info(source, name).type == h5o.TYPE_GROUP):
            _move_members(h5g.open(source, name), h5g.open(target, name))
        else:
            source.move(name, name, target)


def _spec(key: str, arr: np.ndarray, units: Mapping[str, str]) -> dict[str, Any]:
    """How the column ``key`` is made, from its first values."""
    if arr.ndim == 1:
        chunks: tuple[int, ...] = (min(max(len(arr), _MIN_CHUNK), _MAX_CHUNK),)
    else:
        chunks = (1, *arr.shape[1:])
    attrs = dict(_COLUMN_ATTRS.get(key, {}))
    if key in units:
        attrs.setdefault("units", units[key])
    elif key.startswith(("damage/", "lightStatus/")):
        attrs.setdefault("units", "")
    text = arr.dtype.kind in "OU"
    return {"dtype": "str" if text else arr.dtype.str, "rest": arr.shape[1:],
            "chunks": chunks, "compression": compression_for(arr), "attrs": attrs,
            "fill": np.nan if arr.dtype.kind == "f" else (0 if arr.dtype.kind in "iub"
                                                         else None)}


def _build(tree: Any, specs: Mapping[str, Mapping[str, Any]], aliases: Mapping[str, str],
           linked: list[str], signal: str | None) -> None:
    """The datasets (empty), their conventional names and ``entry/data`` under ``tree``."""
    from h5py import h5g

    made = {}
    for key, spec in specs.items():
        ds = made[key] = h5build.column(tree, key, _dtype(spec), spec["rest"],
                                        chunks=spec["chunks"], fill=spec["fill"],
                                        compression=spec["compression"])
        set_attrs(ds, spec["attrs"])
    for alias, key in aliases.items():
        if not h5g._path_valid(tree, alias.encode(), None):
            h5build.link(tree, alias, made[key])  # one dataset, two names
            set_attrs(made[key], {"target": f"/{key}"})
    data = h5build.group(tree, "entry/data")
    set_attrs(data, {"NX_class": "NXdata"})
    for key in linked:
        set_attrs(made[key], {"target": f"/{key}"})  # NeXus link convention
        h5build.link(data, key.replace("/", "_"), made[key])
    if signal is not None:
        nexus: dict[str, Any] = {"signal": signal}
        if "tag" in linked and signal != "tag":
            nexus |= {"axes": "tag", "tag_indices": 0}
        set_attrs(data, nexus)


def _nexus_signal(names: list[str]) -> str | None:
    """The dataset a NeXus viewer plots by default: a detector ROI, else I0, else any."""
    for suffix in ("ROI_0_sum", "pd_i0"):
        for name in names:
            if name.endswith(suffix):
                return name
    others = [n for n in names if n != "tag"]
    return others[0] if others else (names[0] if names else None)
