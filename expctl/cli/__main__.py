"""``python -m expctl.cli``: the ``expctl`` command from a source tree (no install needed)."""

from expctl.cli import entry

entry()
