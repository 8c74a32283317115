"""SACLA-style data access (dbpy, stpy, ippy) over the facility archive.

Facility scripts run unchanged against the simulated (or any) facility::

    python -m expctl.compat [--data-dir DIR] my_analysis.py ARGS...

or, from Python, ``expctl.compat.install(data_dir)`` and then plain
``import dbpy, stpy, ippy``.  Without installing, ``from expctl.compat import
dbpy, stpy, ippy`` gives the same modules.  They read the facility of the data
directory (``EXPCTL_DATA_DIR`` or ``./expctl-data``), opened on first use
through the backend registry; :func:`bind` points them at a given archive
instead (a session's ``beamline.archive``, a test double), :func:`bound` for
the length of a ``with`` block.  Everything the facility would refuse raises
:class:`APIError` (``dbpy.APIError`` is ``stpy.APIError``).
"""

from expctl.compat.errors import APIError
from expctl.compat.facility import (
    DEFAULT_PROFILE,
    FacilityBinding,
    bind,
    bound,
    configure,
    current_archive,
    default_data_dir,
    open_facility,
)
from expctl.compat.install import install, installed, uninstall

__all__ = [
    "DEFAULT_PROFILE",
    "APIError",
    "FacilityBinding",
    "bind",
    "bound",
    "configure",
    "current_archive",
    "default_data_dir",
    "install",
    "installed",
    "open_facility",
    "uninstall",
]
