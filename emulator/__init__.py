"""A strict local stand-in for Azure Resource Manager, driven by the real Azure SDK clients over HTTPS.

See emulator/README.md for what it emulates, its knobs and the table of refusals it reproduces.
"""

from .fleet import FleetError, load_fleet
from .principals import DEFAULT_PRINCIPALS, JANE, WARDEN, Principal
from .server import EmulatorServer

__all__ = ["DEFAULT_PRINCIPALS", "JANE", "WARDEN", "EmulatorServer", "FleetError", "Principal", "load_fleet"]
