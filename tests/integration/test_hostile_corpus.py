"""Hostile input: every case ends with a clear error (exit 2, or 1 for a damaged data
directory) within 5 s of CPU time and 1 GB of address space — never an internal error,
a hang or a traceback, and nothing from the input reaches the terminal as a control code.

Files live in tests/data/hostile/; oversized files, pipes, links and damaged data
directories are made here.  Every case runs in a forked child of one worker (see
:mod:`tests.integration.sandbox`) with ``RLIMIT_AS`` = 1 GB and a hard deadline.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from expctl.engine.events import EventBus
from expctl.runlog import attach
from expctl.testing.synthetic_events import synthetic_campaign

from .sandbox import REPO, Case, Outcome, run_cases

#: long end-to-end tests: CI runs them after the default suite (`pytest -m slow`)
pytestmark = pytest.mark.slow

HOSTILE = REPO / "tests" / "data" / "hostile"
SMALL = str(REPO / "sequences" / "small.yaml")
CPU_LIMIT_S = 5.0
MEMORY_LIMIT_MB = 1024

# sequence files: (file, words the one-paragraph error must contain)
FILES = [
    ("alias_bomb.yaml", "more than 20000 values (anchors and aliases expanded"),
    ("alias_bomb_merge.yaml", "more than 20000 values"),
    ("alias_bomb_steps.yaml", "more than 20000 values"),
    ("alias_recursive.yaml", "an alias inside its own anchor"),
    ("alias_recursive_steps.yaml", "an alias inside its own anchor"),
    ("list_flood.yaml", "more than 20000 values"),
    ("digits_int.yaml", "a number of 5000 characters; numbers may have at most 100"),
    ("digits_param.yaml", "a number of 5000 characters"),
    ("digits_float.yaml", "a number of 5002 characters"),
    ("digits_hex.yaml", "a number of 5002 characters"),
    ("digits_negative.yaml", "wait must be a finite number"),
    ("digits_in_list.yaml", "parameter delays must be a finite number"),
    ("deep_flow.yaml", "nesting deeper than 60 levels"),
    ("deep_flow_map.yaml", "nesting deeper than 60 levels"),
    ("deep_block.yaml", "nesting deeper than 60 levels"),
    ("deep_expr.yaml", "expression longer than 500 characters"),
    ("deep_expr_short.yaml", "invalid expression"),
    ("expr_power.yaml", "number too large for **"),
    ("expr_long.yaml", "expression longer than 500 characters"),
    ("expr_list_mult.yaml", "cannot multiply list"),
    ("expr_string_mult.yaml", "cannot multiply text"),
    ("big_linspace.yaml", "linspace needs 1 to 100000 points"),
    ("big_range.yaml", "range gives more than 100000 values"),
    ("big_shots.yaml", "shots must be between 1 and 1000000"),
    ("nul_bytes.yaml", "unacceptable character #x0000"),
    ("utf16.yaml", "not UTF-8 text"),
    ("binary_garbage.yaml", "not UTF-8 text"),
    ("escape_device.yaml", "unknown device '\\x1b[2J\\x1b]0;pwned\\x07'"),
    ("markup_device.yaml", "unknown device '[/][bold red]x[/]'"),
    ("bidi_label.yaml", "unknown device 'the\\u202eevil\\u2066'"),
    ("python_tag.yaml", "a step must be a mapping"),
    ("custom_tag.yaml", "could not determine a constructor for the tag '!include'"),
    ("multi_document.yaml", "expected a single document"),
    ("include_dev_zero.yaml", "/dev/zero"),
    ("include_directory.yaml", "included file '.'"),
    ("include_passwd.yaml", "must be a mapping"),
    ("include_deep_chain.yaml", "include cycle"),
    ("include_fanout.yaml", "more than 200 files read"),
]


def _bombs() -> tuple[str, str]:
    flow = "[" + ", ".join(["&a [1, 1, 1, 1, 1, 1, 1, 1, 1]"] + ["*a"] * 8) + "]"
    levels = ["&l0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    levels += [f"&l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 7)]
    return flow, "[" + ", ".join(levels) + "]"


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """A data directory with a small logged campaign (delays, reference and pumped runs)."""
    data = tmp_path_factory.mktemp("hostile") / "data"
    bus = EventBus()
    handle = attach(bus, data)
    for event in synthetic_campaign([-0.5, 0.0, 0.5, 1.0], spots_per_delay=1,
                                    reference_shots=50, pumped_shots=2,
                                    rng=np.random.default_rng(3)):
        bus.publish(event)
    handle.close()
    return data


def _copy(base: Path, root: Path, name: str) -> Path:
    target = root / name
    shutil.copytree(base, target)
    return target


def _journal(data: Path, name: str, lines: list[bytes]) -> None:
    folder = data / "journal"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.jsonl").write_bytes(b"\n".join(lines) + b"\n")


_HEAD = json.dumps({"t": "campaign", "format": 1, "id": "x", "sequence": "small",
                    "sequence_file": SMALL, "started": 1.0}).encode()


def _cases(base: Path, root: Path) -> list[tuple[Case, tuple[int, ...], str]]:
    """(case, allowed exit codes, words its output must hold)."""
    out: list[tuple[Case, tuple[int, ...], str]] = []

    def add(name: str, argv: list[str], codes: tuple[int, ...], words: str, *,
            cwd: Path = HOSTILE, shell: list[str] | None = None) -> None:
        out.append((Case(name, argv, cwd, shell), codes, words))

    for file, words in FILES:
        add(f"validate-{file}", ["validate", file], (2,), words)
    add("dry-run-alias_bomb", ["run", "--dry-run", "alias_bomb.yaml", "--data-dir",
                               str(root / "d0")], (2,), "more than 20000 values")
    # generated files: oversized, one huge line, a pipe, a device, a link loop
    big = root / "big.yaml"
    big.write_text("# " + "x" * 1_100_000 + "\nsteps: [checkpoint]\n")
    add("validate-1.1MB", ["validate", str(big)], (2,), "a sequence file may have at most "
                                                        "1000000")
    fifo = root / "pipe.yaml"
    os.mkfifo(fifo)
    add("validate-fifo", ["validate", str(fifo)], (2,), "is not a regular file")
    add("validate-dev-zero", ["validate", "/dev/zero"], (2,), "is not a regular file")
    add("validate-dev-urandom", ["validate", "/dev/urandom"], (2,), "is not a regular file")
    loop = root / "loop.yaml"
    loop.symlink_to(loop)
    add("validate-link-loop", ["validate", str(loop)], (2,), "no such sequence file")
    # --set
    flow, deep_bomb = _bombs()
    add("set-alias-bomb", ["validate", SMALL, "--set", f"shots={deep_bomb}"], (2,),
        "more than 20000 values")
    add("set-alias-flow", ["validate", SMALL, "--set", f"shots={flow}"], (2,), "shots")
    add("set-digits", ["validate", SMALL, "--set", "shots=" + "1" * 5000], (2,),
        "a number of 5000 characters")
    add("set-deep", ["validate", SMALL, "--set", "shots=" + "[" * 3000 + "]" * 3000], (2,),
        "nesting deeper than 60 levels")
    add("set-python-tag", ["validate", SMALL, "--set", "shots=!!python/object/apply:os.getpid "
                                                      "[]"], (2,), "--set shots")
    add("set-long", ["validate", SMALL, "--set", "shots=" + "1," * 60_000], (2,), "shots")
    add("set-nul", ["validate", SMALL, "--set", "shots=\x01\x02"], (2,), "unacceptable character")
    # profiles
    prof = root / "bomb-profile.yaml"
    prof.write_text((REPO / "tests/data/profiles/bl3-mini.yaml").read_text()
                    + (HOSTILE / "alias_bomb.yaml").read_text().split("steps:")[0])
    add("profile-alias-bomb", ["validate", SMALL, "--profile", str(prof)], (1, 2),
        "more than 20000 values")
    add("profile-dev-zero", ["validate", SMALL, "--profile", "/dev/zero"], (1, 2),
        "is not a regular file")
    digits = root / "digits-profile.yaml"
    digits.write_text((REPO / "tests/data/profiles/bl3-mini.yaml").read_text()
                      + "\nextra: " + "1" * 5000 + "\n")
    add("profile-digits", ["validate", SMALL, "--profile", str(digits)], (1, 2),
        "not valid YAML")
    # --where
    d = str(base)
    add("where-5000-parens", ["runs", "--data-dir", d, "--where",
                              "(" * 5000 + "run > 1" + ")" * 5000], (2,), "at most 4000")
    add("where-nested-1900", ["runs", "--data-dir", d, "--where",
                              "(" * 1900 + "run > 1" + ")" * 1900], (2,),
        "more than 50 levels of parentheses and not")
    add("where-not-chain", ["runs", "--data-dir", d, "--where", "not " * 900 + "run > 1"],
        (2,), "more than 50 levels")
    add("where-digits", ["runs", "--data-dir", d, "--where", "run > " + "9" * 5000], (2,),
        "at most 4000")
    add("where-digits-3000", ["runs", "--data-dir", d, "--where", "run > " + "9" * 3000], (2,),
        "a number of 3000 characters")
    add("where-unterminated", ["runs", "--data-dir", d, "--where", "label == 'abc"], (2,),
        "--where")
    add("where-python", ["runs", "--data-dir", d, "--where", "__import__('os').system('x')"],
        (2,), "--where")
    add("where-markup", ["runs", "--data-dir", d, "--where", "[/][bold]x[/] ==="], (2,),
        "--where")
    add("reduce-where-deep", ["reduce", "--data-dir", d, "--where",
                              "(" * 1000 + "run > 1" + ")" * 1000], (2,), "more than 50 levels")
    add("reduce-huge-range", ["reduce", "1-999999999999", "--data-dir", d], (2,),
        "spans 999999999999 runs")
    add("reduce-bins-step", ["reduce", "1-4", "--bins", "0:1e12:1", "--data-dir", d], (2,),
        "1 to 100000 bins")
    add("reduce-bins-count", ["reduce", "1-4", "--bins", "99999999999", "--data-dir", d], (2,),
        "1 to 100000 bins")
    add("reduce-bins-nan", ["reduce", "1-4", "--bins", "nan:1:1", "--data-dir", d], (2,),
        "--bins")
    add("reduce-run-digits", ["reduce", "1" * 5000, "--data-dir", d], (2,),
        "bad run specification")
    add("show-huge-run", ["show", "9" * 30, "--data-dir", d], (2,), "is not in the catalog")
    add("show-negative", ["show", "-5", "--data-dir", d], (2,), "is not in the catalog")
    add("show-digits", ["show", "9" * 5000, "--data-dir", d], (2,), "invalid int value")
    # damaged data directories (environment faults: exit 1)
    garbage = _copy(base, root, "garbage-catalog")
    (garbage / "catalog.sqlite").write_bytes(os.urandom(8192))
    add("runs-garbage-catalog", ["runs", "--data-dir", str(garbage)], (1,), "catalog")
    add("check-garbage-catalog", ["check", "--data-dir", str(garbage)], (1,),
        "expctl catalog rebuild")
    empty = _copy(base, root, "empty-catalog")
    (empty / "catalog.sqlite").write_bytes(b"")
    add("runs-empty-catalog", ["runs", "--data-dir", str(empty)], (1,),
        "not an expctl run catalog")
    folder = _copy(base, root, "dir-catalog")
    (folder / "catalog.sqlite").unlink()
    (folder / "catalog.sqlite").mkdir()
    add("runs-directory-catalog", ["runs", "--data-dir", str(folder)], (1,), "catalog")
    badjson = _copy(base, root, "bad-json")
    with sqlite3.connect(badjson / "catalog.sqlite") as db:
        db.execute("UPDATE runs SET loop = '{not json' WHERE run = 2")
    db.close()
    add("runs-bad-json-row", ["runs", "--data-dir", str(badjson)], (1,), "damaged 'loop'")
    add("show-bad-json-row", ["show", "2", "--data-dir", str(badjson)], (1,), "damaged 'loop'")
    run_file = "runs/bl3/run000002.h5"
    for name, damage in (
            ("truncated", lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])),
            ("zero-bytes", lambda p: p.write_bytes(b"")),
            ("garbage", lambda p: p.write_bytes(os.urandom(4096))),
            ("flipped", lambda p: p.write_bytes(_flip(p.read_bytes())))):
        dd = _copy(base, root, f"file-{name}")
        damage(dd / run_file)
        add(f"show-{name}-file", ["show", "2", "--data-dir", str(dd)], (1,), "run000002.h5")
        add(f"reduce-{name}-file", ["reduce", "1-4", "--data-dir", str(dd)], (1,),
            "run000002.h5")
    foreign = _copy(base, root, "foreign-file")
    import h5py

    (foreign / run_file).unlink()
    with h5py.File(foreign / run_file, "w") as f:
        f.attrs["file_format"] = "\x1b[2Jsomething else"
    add("show-foreign-hdf5", ["show", "2", "--data-dir", str(foreign)], (1,),
        "does not match the SHA-256")
    future = _copy(base, root, "future-layout")
    (future / "expctl-layout.json").write_text('{"layout": 99}')
    add("runs-future-layout", ["runs", "--data-dir", str(future)], (1,), "layout 99")
    broken = _copy(base, root, "broken-layout")
    (broken / "expctl-layout.json").write_text("\x1b[2J")
    add("runs-broken-layout", ["runs", "--data-dir", str(broken)], (1,), "layout marker")
    # journals: a bad one is isolated, and is an error only when asked for by name
    for name, lines in (
            ("bad-bytes", [_HEAD, b'{"t": "begin", "path": "1", "attempt": 1}', b"\xff\xfe\x00",
                           b'{"t": "end", "outcome": "failed"}']),
            ("wrong-shape", [_HEAD, b'{"t": "step", "path": 7, "attempt": "x", "results": 1}']),
            ("not-object", [_HEAD, b"[1, 2, 3]", b'{"t": "end", "outcome": "failed"}']),
            ("deep-json", [_HEAD, b"[" * 100_000 + b"]" * 100_000,
                           b'{"t": "end", "outcome": "failed"}']),
            ("no-header", [b'{"t": "run", "run": 1}']),
            ("empty", [b""])):
        dd = root / f"journal-{name}"
        _journal(dd, "x", lines)
        add(f"resume-journal-{name}", ["resume", "--data-dir", str(dd)], (2,),
            "nothing to resume")
        add(f"resume-named-journal-{name}", ["resume", "--campaign", "x", "--data-dir",
                                             str(dd)], (1,), "campaign journal")
    # the shell: one hostile line each; the loop survives and says why
    shell_dir = root / "shell-data"
    for name, line, words in (
            ("bomb", f"seq validate {HOSTILE / 'alias_bomb.yaml'}", "more than 20000 values"),
            ("dev-zero", "seq validate /dev/zero", "no sequence file '/dev/zero'"),
            ("digits", f"seq validate {HOSTILE / 'digits_int.yaml'}", "a number of 5000"),
            ("where", "runs --where " + "(" * 900 + "run>1" + ")" * 900, "levels"),
            ("escape", f"seq validate {HOSTILE / 'escape_device.yaml'}",
             "unknown device '\\x1b[2J\\x1b]0;pwned\\x07'")):
        add(f"shell-{name}", [str(shell_dir)], (0,), words, cwd=REPO / "sequences",
            shell=[line])
    return out


def _flip(data: bytes) -> bytes:
    """One byte changed in the middle: HDF5 may still open it; its checksum will not match."""
    mid = len(data) // 2
    return data[:mid] + bytes([data[mid] ^ 0xFF]) + data[mid + 1:]


@pytest.fixture(scope="module")
def corpus(base, tmp_path_factory) -> list[tuple[Case, tuple[int, ...], str, Outcome]]:
    root = tmp_path_factory.mktemp("hostile-cases")
    cases = _cases(base, root)
    results = run_cases([c for c, _, _ in cases], root / "out")
    return [(c, codes, words, results[c.name]) for c, codes, words in cases]


def test_corpus_is_large_enough(corpus) -> None:
    assert len(corpus) >= 60 + 12  # the 60 new cases asked for, well beyond


def test_every_case_fails_clearly_fast_and_small(corpus) -> None:
    failures = []
    for case, codes, words, got in corpus:
        text = got.stdout + got.stderr
        problems = []
        if got.killed:
            problems.append("hung (killed at the deadline)")
        if got.code not in codes:
            problems.append(f"exit {got.code}, expected {codes}")
        if "internal error" in text or "Traceback" in text:
            problems.append("internal error")
        if words not in text:
            problems.append(f"missing {words!r}")
        if "\x1b" in text or "\u202e" in text:
            problems.append("a control character reached the terminal")
        if got.cpu_s > CPU_LIMIT_S:
            problems.append(f"{got.cpu_s:.1f} s of CPU")
        if got.maxrss_mb > MEMORY_LIMIT_MB:
            problems.append(f"{got.maxrss_mb:.0f} MB")
        if problems:
            failures.append(f"{case.name}: {'; '.join(problems)}\n    {text.strip()[:300]!r}")
    assert not failures, "\n".join(failures)
    worst_cpu = max(got.cpu_s for *_, got in corpus)
    worst_rss = max(got.maxrss_mb for *_, got in corpus)
    print(f"\n{len(corpus)} hostile cases: max CPU {worst_cpu:.2f} s, max wall "
          f"{max(got.wall_s for *_, got in corpus):.2f} s, max RSS {worst_rss:.0f} MB")


def test_errors_are_one_paragraph(corpus) -> None:
    for case, _, _, got in corpus:
        if case.shell is None and got.code in (1, 2):
            lines = [ln for ln in got.stderr.splitlines() if ln.startswith("error:")]
            assert len(lines) <= 1, (case.name, got.stderr)
