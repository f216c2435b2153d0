"""`python -m bench.emulator_proc --fleet F [--latency S]`: the ARM emulator in its own process.

Benchmarks measure the warden's CPU time, so the emulator (and its injected latency) must not share the
measured process. Prints the server's ready line (JSON) on stdout, then serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from emulator.foreground import serve_until_signalled
from emulator.server import EmulatorServer
from emulator.throttling import RateLimits


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.emulator_proc")
    p.add_argument("--fleet", required=True)
    p.add_argument("--latency", type=float, default=0.0, help="seconds added to every ARM call")
    p.add_argument("--lro-shape", choices=("recorded", "updating"), default="recorded")
    p.add_argument("--queue-connection-string")
    p.add_argument("--request-log", required=True)
    p.add_argument("--ca-dir", required=True)
    p.add_argument("--rate-limits", help='ARM token buckets, JSON {"enforce", "timeScale", "retryAfterFloor"}')
    args = p.parse_args(argv)
    limits = RateLimits.from_mapping(json.loads(args.rate_limits)) if args.rate_limits else None
    server = EmulatorServer(args.fleet, lro_shape=args.lro_shape, queue_connection_string=args.queue_connection_string,
                            request_log=args.request_log, ca_dir=args.ca_dir, latency=args.latency,
                            rate_limits=limits)
    serve_until_signalled(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
