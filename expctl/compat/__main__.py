"""``python -m expctl.compat SCRIPT.py [ARGS…]``: run a SACLA analysis script unchanged.

The script sees ``import dbpy, stpy, ippy`` resolve to expctl's facility API,
reading the facility of ``--data-dir`` (default ``EXPCTL_DATA_DIR`` or
``./expctl-data``).  An :class:`~expctl.errors.ExpctlError` it does not catch is
printed as one paragraph and sets the exit code; other exceptions keep their
traceback, as under plain ``python``.
"""

from __future__ import annotations

import argparse
import runpy
import sys
from collections.abc import Sequence
from pathlib import Path

from expctl.compat.facility import DEFAULT_PROFILE
from expctl.compat.install import install, uninstall
from expctl.errors import ExpctlError

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the script named in ``argv`` with the facility API installed; its exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m expctl.compat",
        description="Run a script that uses dbpy/stpy/ippy against expctl's facility.")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="data directory (default: EXPCTL_DATA_DIR or ./expctl-data)")
    parser.add_argument("--profile", default=DEFAULT_PROFILE,
                        help="beamline profile whose backend keeps the facility")
    parser.add_argument("script", type=Path, help="the Python script to run")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the script")
    ns = parser.parse_args(argv)
    if not ns.script.is_file():
        parser.error(f"no such script: {ns.script}")
    saved_argv, saved_path = sys.argv[:], sys.path[:]
    sys.argv = [str(ns.script), *ns.args]
    sys.path.insert(0, str(ns.script.resolve().parent))
    install(ns.data_dir, ns.profile)
    try:
        runpy.run_path(str(ns.script), run_name="__main__")
    except ExpctlError as err:
        print(f"error: {err.paragraph()}", file=sys.stderr)
        return err.exit_code
    except SystemExit as done:
        code = done.code
        if isinstance(code, str):
            print(code, file=sys.stderr)
        return code if isinstance(code, int) else (0 if code is None else 1)
    finally:
        uninstall()
        sys.argv, sys.path[:] = saved_argv, saved_path
    return 0


if __name__ == "__main__":
    sys.exit(main())
