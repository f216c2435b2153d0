"""`python -m remediators`: see `remediators.cli`."""

import sys

from .cli import main

sys.exit(main())
