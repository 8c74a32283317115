"""``python -m expctl.cli``: the ``expctl`` command from a source tree (no install needed)."""

import sys

from expctl.cli import main

sys.exit(main())
