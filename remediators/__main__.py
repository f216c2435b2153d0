"""`python -m remediators`: see `remediators.entry.cli`."""

import sys

from .entry.cli import main

sys.exit(main())
