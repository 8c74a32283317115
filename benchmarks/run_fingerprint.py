"""Fingerprint of a seeded CLI campaign's data, to prove a speed-up changed no value.

Runs ``expctl run SEQ --seed N --set …`` as a subprocess on the simulator (the
checkout this script lives in) in a fresh data directory, then hashes every
dataset and attribute of the run files (``runs/``) and alignment-scan files
(``alignment/``) bitwise: dtype, shape and raw bytes of datasets, the value of
attributes.  What legitimately differs between two identical campaigns is left
out by name (:data:`LEFT_OUT`: the path of the checkout), so
two fingerprints of the same code are equal and any other difference is a
changed value.

    python benchmarks/run_fingerprint.py record OUT.json [--seed 7] [--set K=V …] [--checkout DIR]
    python benchmarks/run_fingerprint.py compare A.json B.json
    python benchmarks/run_fingerprint.py hash DATA_DIR OUT.json

``compare`` prints every differing entry and exits 1 if there is one.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SEQUENCE = "sequences/pumpprobe.yaml"
OVERRIDES = ("spots_per_delay=2", "reference_shots=30", "delays=[-1 ps, 0 ps, 0.5 ps, 3 ps]")

CLI = "import sys; from expctl.cli import main; sys.exit(main(sys.argv[1:]))"
#: entries left out of the fingerprint: only the absolute path of the checkout the sequence
#: was read from.  Timestamps are compared too: on the simulator's virtual clock they are
#: a pure function of the campaign (a fixed epoch), so two runs of one code agree on them.
LEFT_OUT = frozenset({"@sequence_file"})


def _attr_value(value: Any) -> Any:
    import numpy as np

    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        return {"dtype": str(value.dtype), "shape": list(value.shape),
                "sha256": hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()}
    if isinstance(value, np.generic):
        return {"dtype": str(value.dtype), "hex": value.tobytes().hex()}
    return repr(value)


def _dataset_value(ds: Any) -> Any:
    import numpy as np

    data = ds[()]
    if ds.dtype.kind == "O":
        items = np.asarray(data, dtype=object).ravel().tolist()
        text = json.dumps([v.decode() if isinstance(v, bytes) else str(v) for v in items])
        return {"dtype": "object", "shape": list(ds.shape),
                "sha256": hashlib.sha256(text.encode()).hexdigest()}
    arr = np.ascontiguousarray(data)
    return {"dtype": str(arr.dtype), "shape": list(arr.shape),
            "sha256": hashlib.sha256(arr.tobytes()).hexdigest()}


def fingerprint_file(path: Path) -> dict[str, Any]:
    """Every dataset and attribute of one HDF5 file (timestamps left out), by name."""
    import h5py

    out: dict[str, Any] = {}

    def attrs(prefix: str, obj: Any) -> None:
        for key, value in obj.attrs.items():
            name = f"{prefix}@{key}"
            if f"@{key}" in LEFT_OUT and prefix == "":
                continue
            out[name] = _attr_value(value)

    with h5py.File(path, "r", locking=False) as f:
        attrs("", f)

        def visit(name: str, obj: Any) -> None:
            attrs(name, obj)
            if isinstance(obj, h5py.Dataset) and name not in LEFT_OUT:
                out[name] = _dataset_value(obj)

        f.visititems(visit)
    return out


def fingerprint_dir(data_dir: Path) -> dict[str, Any]:
    """File (relative to the data directory) -> its fingerprint, for runs and alignment scans."""
    files = sorted([*data_dir.glob("runs/**/*.h5"), *data_dir.glob("alignment/*.h5")])
    return {str(p.relative_to(data_dir)): fingerprint_file(p) for p in files}


def record(seed: int, overrides: list[str], sequence: str, checkout: Path = ROOT
           ) -> dict[str, Any]:
    """Run the campaign with the code of ``checkout`` in a temporary data directory and
    fingerprint it."""
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        cmd = [sys.executable, "-c", CLI, "run", sequence, "--seed", str(seed),
               "--data-dir", str(data), "--json"]
        for o in overrides:
            cmd += ["--set", o]
        env = {**os.environ, "PYTHONPATH": str(checkout)}
        done = subprocess.run(cmd, cwd=checkout, env=env, capture_output=True, text=True,
                              check=False)
        if done.returncode != 0:
            raise SystemExit(f"campaign failed ({done.returncode}):\n{done.stderr[-2000:]}")
        files = fingerprint_dir(data)
    return {"sequence": sequence, "seed": seed, "overrides": overrides, "files": files}


def compare(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Every difference between two fingerprints, as lines of text."""
    out = []
    fa, fb = a["files"], b["files"]
    for name in sorted(set(fa) | set(fb)):
        if name not in fa or name not in fb:
            out.append(f"{name}: only in {'first' if name in fa else 'second'}")
            continue
        ea, eb = fa[name], fb[name]
        for key in sorted(set(ea) | set(eb)):
            if ea.get(key) != eb.get(key):
                out.append(f"{name}:{key}: {ea.get(key)} != {eb.get(key)}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    rec = sub.add_parser("record", help="run the seeded campaign and write its fingerprint")
    rec.add_argument("out", type=Path)
    rec.add_argument("--seed", type=int, default=7)
    rec.add_argument("--sequence", default=SEQUENCE)
    rec.add_argument("--set", dest="overrides", action="append", default=None)
    rec.add_argument("--checkout", type=Path, default=ROOT,
                     help="the expctl checkout whose code runs the campaign (default: this one)")
    cmp_ = sub.add_parser("compare", help="compare two fingerprints (exit 1 if they differ)")
    cmp_.add_argument("a", type=Path)
    cmp_.add_argument("b", type=Path)
    hsh = sub.add_parser("hash", help="fingerprint an existing data directory")
    hsh.add_argument("data_dir", type=Path)
    hsh.add_argument("out", type=Path)
    args = ap.parse_args(argv)
    if args.cmd == "record":
        fp = record(args.seed, list(OVERRIDES if args.overrides is None else args.overrides),
                    args.sequence, args.checkout.resolve())
        args.out.write_text(json.dumps(fp, indent=1, sort_keys=True))
        n = sum(len(v) for v in fp["files"].values())
        print(f"{len(fp['files'])} files, {n} datasets and attributes -> {args.out}")
        return 0
    if args.cmd == "hash":
        fp = {"sequence": None, "seed": None, "overrides": [],
              "files": fingerprint_dir(args.data_dir)}
        args.out.write_text(json.dumps(fp, indent=1, sort_keys=True))
        return 0
    diffs = compare(json.loads(args.a.read_text()), json.loads(args.b.read_text()))
    for line in diffs[:200]:
        print(line)
    if diffs:
        print(f"{len(diffs)} differences")
        return 1
    files = json.loads(args.a.read_text())["files"]
    print(f"identical: {len(files)} files, {sum(len(v) for v in files.values())} entries")
    return 0


if __name__ == "__main__":
    sys.exit(main())
