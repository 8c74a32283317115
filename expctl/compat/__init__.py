"""SACLA-style data access (dbpy, stpy, ippy) over the facility archive.

``from expctl.compat import dbpy, stpy, ippy`` gives the facility API bound to
the facility in the data directory; :func:`install` (or ``python -m
expctl.compat SCRIPT.py``) lets unchanged scripts ``import dbpy`` instead.
:func:`bind` points the API at a given archive (a session's, a test's).
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
