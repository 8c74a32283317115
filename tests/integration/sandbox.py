"""Run CLI or shell invocations in forked children under a memory limit and a deadline.

One worker process imports expctl once; each case is a ``fork`` of it (a few ms
instead of a second of interpreter start-up), with ``RLIMIT_AS`` set, stdout and
stderr captured to files, and a hard wall-clock deadline after which it is killed.
The worker reports exit code, wall time, CPU time and peak RSS of every case.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: Address-space limit of each case (the acceptance bound).
MEMORY_LIMIT = 1 << 30
#: A case still running after this long (wall clock) is killed and reported as a hang.
HARD_DEADLINE_S = 30.0


@dataclass
class Case:
    """One invocation: ``argv`` for ``expctl`` (or shell lines when ``shell`` is set)."""

    name: str
    argv: list[str]
    cwd: Path
    shell: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    #: Python run in the child first (e.g. arming a fault)
    prelude: str = ""


@dataclass
class Outcome:
    code: int | None
    wall_s: float
    cpu_s: float
    maxrss_mb: float
    killed: bool
    stdout: str
    stderr: str


_WORKER = textwrap.dedent("""
    import json, os, resource, sys, time, traceback
    import h5py, numpy, rich.console, rich.table, sqlite3, yaml  # noqa: F401 (warm imports)
    import expctl.cli
    expctl.cli._parser()  # imports every command module once
    import expctl.runlog, expctl.session, expctl.sequence.load  # noqa: F401
    LIMIT, DEADLINE = int(sys.argv[1]), float(sys.argv[2])

    def child(case):
        os.chdir(case["cwd"])
        fd = os.open(os.devnull, os.O_RDONLY)
        os.dup2(fd, 0)
        for target, path in ((1, case["out"]), (2, case["err"])):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(fd, target)
        os.environ.update(case["env"])
        resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))
        try:
            exec(case["prelude"], {})
            if case["shell"] is None:
                code = expctl.cli.main(case["argv"])
            else:
                code = shell(case)
        except SystemExit as done:  # argparse
            code = done.code if isinstance(done.code, int) else 2
        except BaseException:
            traceback.print_exc()
            code = 99
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)

    def shell(case):
        from pathlib import Path
        from prompt_toolkit.input import create_pipe_input
        from prompt_toolkit.output import DummyOutput
        from expctl.cli.shell import run_cli_command
        from expctl.session import Session
        from expctl.shell import Shell
        data = Path(case["argv"][0])
        with create_pipe_input() as inp:
            inp.send_text("\\n".join(case["shell"] + ["exit"]) + "\\n")
            return Shell(lambda: Session.open("bl3", data), profile_name="bl3", data_dir=data,
                         input=inp, output=DummyOutput(), stdout=sys.stdout,
                         sequence_dir=Path(case["cwd"]), delegate=run_cli_command).run()

    for line in sys.stdin:
        case = json.loads(line)
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:
            child(case)
        killed = False
        while True:
            got, status, usage = os.wait4(pid, os.WNOHANG)
            if got:
                break
            if time.monotonic() - start > DEADLINE:
                os.kill(pid, 9)
                killed = True
                got, status, usage = os.wait4(pid, 0)
                break
            time.sleep(0.002)
        wall = time.monotonic() - start
        code = os.waitstatus_to_exitcode(status)
        print(json.dumps({"code": code, "wall": wall, "killed": killed,
                          "cpu": usage.ru_utime + usage.ru_stime,
                          "rss": usage.ru_maxrss / 1024}), flush=True)
""")


def run_cases(cases: list[Case], scratch: Path) -> dict[str, Outcome]:
    """Run every case (in order) in one worker; outcomes by case name."""
    scratch.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    worker = subprocess.Popen(
        [sys.executable, "-c", _WORKER, str(MEMORY_LIMIT), str(HARD_DEADLINE_S)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=REPO)
    results: dict[str, Outcome] = {}
    try:
        for case in cases:
            out, err = scratch / f"{case.name}.out", scratch / f"{case.name}.err"
            request = {"argv": case.argv, "cwd": str(case.cwd), "shell": case.shell,
                       "env": case.env, "out": str(out), "err": str(err),
                       "prelude": case.prelude}
            assert worker.stdin is not None and worker.stdout is not None
            worker.stdin.write(json.dumps(request) + "\n")
            worker.stdin.flush()
            line = worker.stdout.readline()
            if not line:
                raise RuntimeError(f"the sandbox worker died at case {case.name}")
            got = json.loads(line)
            results[case.name] = Outcome(
                got["code"], got["wall"], got["cpu"], got["rss"], got["killed"],
                out.read_text(errors="replace"), err.read_text(errors="replace"))
    finally:
        if worker.stdin is not None:
            worker.stdin.close()
        worker.wait(timeout=60)
        if worker.stdout is not None:
            worker.stdout.close()
    return results
