"""An archive the user cannot write reads like any other: runs, show, reduce, check, devices,
a dry-run and dbpy/stpy scripts work, nothing is written into it, and a command that must
write says so in one paragraph.

CI runs as root, which may write anywhere: there every command runs under ``setpriv``
with all capabilities dropped (and ``noroot`` securebits), so the permission bits bind
it exactly as they bind an ordinary user.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from expctl.session import Session

REPO = Path(__file__).resolve().parents[2]
CLI = "import sys; from expctl.cli import main; sys.exit(main(sys.argv[1:]))"
_DROP = ["--securebits=+noroot,+noroot_locked,+no_setuid_fixup,+no_setuid_fixup_locked",
         "--bounding-set=-all", "--inh-caps=-all", "--"]


def _unprivileged() -> list[str]:
    """The command prefix that runs a child without the power to ignore permissions."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root and setpriv (util-linux) is missing: cannot drop the "
                    "capabilities that let root write a read-only directory")
    probe = subprocess.run([setpriv, *_DROP, sys.executable, "-c",
                            "import os; open('/proc/self/status').read()"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"this container does not let setpriv drop capabilities: {probe.stderr}")
    return [setpriv, *_DROP]


def _freeze(root: Path, writable: bool) -> None:
    for path in [root, *root.rglob("*")]:
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            continue
        bits = 0o755 if stat.S_ISDIR(mode) else 0o644
        os.chmod(path, bits if writable else bits & ~0o222)


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in root.rglob("*")}


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """A delay scan taken on the simulator, then made read-only for everyone."""
    data = tmp_path_factory.mktemp("archive") / "data"
    with Session.open("bl3", data) as session:
        loaded = session.load(REPO / "sequences" / "delay_scan.yaml",
                              ["shots=30", "delays=[0 ps, 1 ps, 2 ps]"])
        assert session.run(loaded).outcome == "completed"
    _freeze(data, writable=False)
    before = _snapshot(data)
    yield data
    assert _snapshot(data) == before, "a read-only command wrote into the archive"
    _freeze(data, writable=True)


@pytest.fixture
def run_as_user(tmp_path):
    prefix = _unprivileged()
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*prefix, sys.executable, "-c", CLI, *args], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=120)

    return run


def test_the_archive_cannot_be_written_by_the_test_user(archive, run_as_user) -> None:
    probe = subprocess.run([*_unprivileged(), sys.executable, "-c",
                            f"open({str(archive / 'x')!r}, 'w')"], capture_output=True,
                           text=True)
    assert probe.returncode != 0 and "Permission denied" in probe.stderr


@pytest.mark.slow
def test_runs_show_and_check_read_it(archive, run_as_user) -> None:
    runs = run_as_user("runs", "--data-dir", str(archive))
    assert runs.returncode == 0, runs.stderr
    assert "6 runs" in runs.stdout and "pump off" in runs.stdout
    show = run_as_user("show", "3", "--data-dir", str(archive))
    assert show.returncode == 0, show.stderr
    assert "per-shot datasets" in show.stdout
    check = run_as_user("check", "--data-dir", str(archive))
    assert check.returncode == 0, check.stdout + check.stderr
    assert "consistent" in check.stdout and "6 files verified" in check.stdout


@pytest.mark.slow
def test_reduce_writes_its_cube_beside_the_user_instead(archive, run_as_user, tmp_path) -> None:
    got = run_as_user("reduce", "--where", "sequence == 'delay_scan'", "--no-fit",
                      "--data-dir", str(archive))
    assert got.returncode == 0, got.stderr
    assert "cannot be written here (a read-only archive?); writing to expctl-reduced/" \
        in got.stderr
    assert (tmp_path / "expctl-reduced" / "cube_1-6.h5").is_file()


@pytest.mark.slow
def test_devices_and_a_dry_run_work_and_a_real_run_is_refused_clearly(archive,
                                                                     run_as_user) -> None:
    devices = run_as_user("devices", "--data-dir", str(archive))
    assert devices.returncode == 0, devices.stderr
    dry = run_as_user("run", "--dry-run", str(REPO / "sequences" / "small.yaml"),
                      "--data-dir", str(archive))
    assert dry.returncode == 0, dry.stderr
    real = run_as_user("run", str(REPO / "sequences" / "small.yaml"), "--data-dir",
                       str(archive))
    assert real.returncode == 1
    # refused when it tries to take control, before anything connects or moves
    assert real.stderr == (
        f"error: cannot take control of beamline 3: {archive / 'locks' / 'bl3.lock'}: "
        "Permission denied. Controlling needs a writable data directory (--data-dir); "
        "read-only commands do not.\n")


@pytest.mark.slow
def test_dbpy_and_stpy_scripts_read_it(archive, tmp_path) -> None:
    script = tmp_path / "analysis.py"
    script.write_text(textwrap.dedent("""
        import dbpy, stpy
        newest = dbpy.read_runnumber_newest(3)
        info = dbpy.read_runinfo(3, newest)
        tags = dbpy.read_taglist_byrun(3, newest)
        hightag = dbpy.read_hightagnumber(3, newest)
        i0 = dbpy.read_syncdatalist_float("xfel_bl_3_tc_bm_2_pd/charge", hightag, tags)
        reader = stpy.StorageReader("MPCCD-1N0-3-001-1", 3, (newest,))
        buf = stpy.StorageBuffer(reader)
        reader.collect(buf, tags[0])
        image = buf.read_det_data(0)
        print(newest, info["runstatus"], len(tags), len(i0), image.shape)
    """))
    got = subprocess.run([*_unprivileged(), sys.executable, "-m", "expctl.compat", "--data-dir",
                          str(archive), str(script)], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert got.returncode == 0, got.stderr
    assert got.stdout.split() == ["6", "0", "30", "30", "(1024,", "512)"]
