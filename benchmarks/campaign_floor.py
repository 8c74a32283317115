"""The floor under the CLI campaign: what writing its output costs with no logic at all.

Runs the issue-16 campaign once through the CLI (as ``cli_campaign.py`` does), takes
stock of what it left on disk — every file with its size, and for each HDF5 file its
groups, datasets and attributes — and counts the syncs it asked the kernel for (``fsync``
and ``fdatasync``, with ``strace`` when it is installed). Then a second child process
does only the unavoidable part of that campaign: start the interpreter, import numpy and
h5py, write the same files (the HDF5 ones with the same numbers of objects and bytes,
through h5py's low-level API; the others as raw bytes) and issue the same number of
syncs — no simulation, no engine, no analysis, no plots drawn, no catalog queries.

Its wall time is a lower bound for any implementation that keeps the campaign's files
and its durability on this machine, so ``simulated / floor`` is the highest ratio the
campaign could reach here. Prints figures; never fails on speed.

    python benchmarks/campaign_floor.py [--set K=V …] [--repeat 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cli_campaign import OVERRIDES, ROOT, RUNNER, SEQUENCE, _environment  # noqa: E402

#: the floor's child: it is given the stock-taking as JSON and writes it all back
FLOOR = """\
import json, os, sys, time
t0 = time.perf_counter()
import numpy as np
import h5py
from h5py import h5a, h5d, h5f, h5g, h5p, h5s, h5t
imported = time.perf_counter()
plan = json.load(open(sys.argv[1]))
out = sys.argv[2]
scalar = h5s.create(h5s.SCALAR)
one = np.zeros((), dtype="f8")
for i, f in enumerate(plan["hdf5"]):
    fid = h5f.create(f"{out}/{i}.h5".encode(), h5f.ACC_TRUNC)
    groups = [fid] + [h5g.create(fid, f"g{g}".encode()) for g in range(f["groups"])]
    per = max(1, f["bytes"] // 8 // max(1, f["datasets"]))
    data = np.zeros(per, dtype="f8")
    space = h5s.create_simple((per,))
    for d in range(f["datasets"]):
        ds = h5d.create(groups[d % len(groups)], f"d{d}".encode(), h5t.IEEE_F64LE, space)
        ds.write(h5s.ALL, h5s.ALL, data)
    for a in range(f["attributes"]):
        h5a.create(groups[a % len(groups)], f"a{a}".encode(), h5t.IEEE_F64LE,
                   scalar).write(one)
    del groups
    fid.close()
written = time.perf_counter()
for i, size in enumerate(plan["other"]):
    with open(f"{out}/{i}.bin", "wb") as fh:
        fh.write(b"x" * size)
others = time.perf_counter()
fd = os.open(f"{out}/sync", os.O_WRONLY | os.O_CREAT)
for _ in range(plan["syncs"]):
    os.write(fd, b"record\\n")
    os.fsync(fd)
os.close(fd)
synced = time.perf_counter()
print(json.dumps({"imports": imported - t0, "hdf5": written - imported,
                  "other files": others - written, "syncs": synced - others}))
"""


def _count(path: Path) -> dict[str, int]:
    """One HDF5 file's groups, datasets, attributes and dataset bytes."""
    import h5py  # (here, not in the timed child)

    counts = {"groups": 0, "datasets": 0, "attributes": 0, "bytes": 0}

    def visit(_name: str, obj: Any) -> None:
        counts["attributes"] += len(obj.attrs)
        if isinstance(obj, h5py.Group):
            counts["groups"] += 1
        else:
            counts["datasets"] += 1
            counts["bytes"] += obj.size * obj.dtype.itemsize

    with h5py.File(path, "r") as fh:
        counts["attributes"] += len(fh.attrs)
        fh.visititems(visit)
    return counts


def take_stock(data_dir: Path) -> dict[str, Any]:
    """What a campaign left on disk: HDF5 files by object count and bytes, other sizes."""
    files = sorted(p for p in data_dir.rglob("*") if p.is_file())
    return {"hdf5": [_count(p) for p in files if p.suffix == ".h5"],
            "other": [p.stat().st_size for p in files if p.suffix != ".h5"]}


def run_campaign(data_dir: Path, overrides: list[str], env: dict[str, str]
                 ) -> tuple[float, float, int | None]:
    """The real campaign: simulated seconds, wall seconds and syncs (None without strace)."""
    runner = data_dir.parent / "expctl_cli.py"
    runner.write_text(RUNNER)
    cmd = [sys.executable, str(runner), "run", SEQUENCE, "--data-dir", str(data_dir),
           "--json", *(a for o in overrides for a in ("--set", o))]
    counts = data_dir.parent / "syscalls.txt"
    strace = shutil.which("strace")
    if strace:
        cmd = [strace, "-f", "-c", "-e", "trace=fsync,fdatasync", "-o", str(counts), *cmd]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"expctl run exited {out.returncode}:\n{out.stderr[-2000:]}")
    syncs = None
    if strace:
        syncs = sum(int(line.split()[3]) for line in counts.read_text().splitlines()
                    if line.split()[-1:] in (["fsync"], ["fdatasync"]))
    return json.loads(out.stdout)["duration_s"], wall, syncs


def floor_once(plan: dict[str, Any], env: dict[str, str], work: Path) -> dict[str, float]:
    """One floor child: its total wall time and its parts."""
    out = work / "out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    child = work / "floor.py"
    child.write_text(FLOOR)
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, str(child), str(work / "plan.json"), str(out)],
                          env=env, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    parts = json.loads(done.stdout)
    parts["interpreter, exit"] = wall - sum(parts.values())
    return {"wall": wall, **parts}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", dest="overrides", action="append", default=None, metavar="K=V",
                    help=f"override a parameter (default: {' '.join(OVERRIDES)})")
    ap.add_argument("--repeat", type=int, default=5, help="floor runs (the best is kept)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    overrides = list(args.overrides or OVERRIDES)

    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as tmp:
        env = _environment(Path(cache))
        work = Path(tmp)
        simulated, wall, syncs = run_campaign(work / "data", overrides, env)
        stock = take_stock(work / "data")
        plan = {**stock, "syncs": syncs or 0}
        (work / "plan.json").write_text(json.dumps(plan))
        floors = [floor_once(plan, env, work) for _ in range(args.repeat)]
    best = min(floors, key=lambda f: f["wall"])
    h5 = stock["hdf5"]
    fig = {"simulated_s": simulated, "campaign_wall_s": wall, "syncs": syncs,
           "hdf5_files": len(h5), "hdf5_objects": sum(f["groups"] + f["datasets"]
                                                       + f["attributes"] for f in h5),
           "other_files": len(stock["other"]), "floor": best,
           "ceiling": simulated / best["wall"], "campaign_ratio": simulated / wall}
    if args.json:
        print(json.dumps(fig, indent=2))
        return 0
    print(f"expctl run {SEQUENCE} {' '.join('--set ' + o for o in overrides)}")
    print(f"  campaign: {simulated:.1f} s simulated in {wall:.2f} s wall → "
          f"{fig['campaign_ratio']:.1f}× (under strace when counting syncs)")
    print(f"  it left {len(h5)} HDF5 files ({fig['hdf5_objects']} groups, datasets and "
          f"attributes), {len(stock['other'])} other files, and asked for "
          f"{'an uncounted number of' if syncs is None else syncs} syncs")
    print(f"  floor (best of {args.repeat}): {best['wall']:.3f} s → at most "
          f"{fig['ceiling']:.0f}× on this machine (target ≥ 500)")
    for part, seconds in best.items():
        if part != "wall":
            print(f"    {part:24s} {seconds:6.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
