"""install(): plain ``import dbpy`` finds expctl's module, never shadowing a real one."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap

import pytest

import expctl.compat
from expctl.compat import bind, install, installed, uninstall


@pytest.fixture
def clean_imports():
    names = ("dbpy", "stpy", "ippy")
    saved = {n: sys.modules.pop(n) for n in names if n in sys.modules}
    yield
    uninstall()
    for n in names:
        sys.modules.pop(n, None)
    sys.modules.update(saved)
    importlib.invalidate_caches()


def test_without_install_dbpy_is_not_importable(clean_imports):
    assert not installed()
    with pytest.raises(ModuleNotFoundError, match="No module named 'dbpy'"):
        importlib.import_module("dbpy")


def test_install_aliases_the_modules(clean_imports, archive):
    install()  # points the API at the data directory's facility ...
    bind(archive)  # ... which the test replaces by its fake
    import dbpy
    import stpy

    from expctl.compat import dbpy as ours
    assert dbpy is ours
    assert stpy.StorageReader.__module__ == "expctl.compat.stpy"
    assert dbpy.__spec__.name == "expctl.compat.dbpy"  # the module keeps its own spec
    assert dbpy.read_runnumber_newest(3) == 103


def test_install_is_idempotent_and_uninstall_undoes_it(clean_imports):
    install()
    install()
    assert sum(type(f).__name__ == "_CompatFinder" for f in sys.meta_path) == 1
    importlib.import_module("dbpy")
    uninstall()
    assert not installed() and "dbpy" not in sys.modules
    assert "expctl.compat.dbpy" in sys.modules


def test_a_real_dbpy_on_the_path_wins(clean_imports, tmp_path, monkeypatch):
    (tmp_path / "dbpy.py").write_text("REAL = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    install()
    import dbpy
    assert dbpy.REAL is True


def test_importing_expctl_compat_installs_nothing():
    code = "import sys, expctl.compat; print(any(type(f).__name__ == '_CompatFinder' " \
           "for f in sys.meta_path), 'expctl.compat.dbpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == ["False", "False"]
    assert expctl.compat.__all__  # the package itself still exports its API


def test_python_m_runs_a_script_and_renders_api_errors(tmp_path):
    script = tmp_path / "poll.py"
    script.write_text(textwrap.dedent("""
        import sys
        import dbpy
        print("args", sys.argv[1:])
        dbpy.read_runinfo(3, 424242)
    """))
    empty = tmp_path / "empty-data"
    proc = subprocess.run(
        [sys.executable, "-m", "expctl.compat", "--data-dir", str(empty), str(script), "-x", "1"],
        capture_output=True, text=True)
    assert proc.stdout.splitlines()[0] == "args ['-x', '1']"
    assert proc.returncode in (1, 2)
    assert proc.stderr.startswith("error: ")
    assert "Traceback" not in proc.stderr
