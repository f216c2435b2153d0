"""`python -m emulator --fleet FLEET.json [...]`: run the emulator until SIGTERM/SIGINT.

Prints exactly one JSON line on stdout once it accepts connections
(`{"arm_endpoint", "ca_bundle", "identity_endpoint", "identity_header"}`), so a parent process can read
the line and go on; errors in the fleet exit with status 2 and the reason on stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .fleet import FleetError
from .foreground import serve_until_signalled
from .server import EmulatorServer


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m emulator", description="Local strict ARM emulator for redis-warden")
    p.add_argument("--fleet", required=True, help="fleet JSON file (see emulator/fleet.schema.json)")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = a free port)")
    p.add_argument("--lro-shape", choices=("recorded", "updating"), default="recorded")
    p.add_argument("--queue-connection-string", help="Azure Storage connection string for Event Grid delivery")
    p.add_argument("--event-queue", default="warden-events")
    p.add_argument("--event-schema", choices=("eventgrid", "cloudevents"), default="eventgrid")
    p.add_argument("--exclude-appid", action="append", default=[], help="drop events from this caller appid")
    p.add_argument("--request-log", help="append every request as a JSON line to this file")
    p.add_argument("--ca-dir", help="directory for the CA PEM (default: a temporary directory)")
    p.add_argument("--page-size", type=int, default=2)
    p.add_argument("--lro-polls", type=int, default=0)
    p.add_argument("--lro-seconds", type=float, default=0.0)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        server = EmulatorServer(
            args.fleet,
            port=args.port,
            lro_shape=args.lro_shape,
            queue_connection_string=args.queue_connection_string,
            event_queue=args.event_queue,
            event_schema=args.event_schema,
            exclude_appids=args.exclude_appid,
            request_log=args.request_log,
            ca_dir=args.ca_dir,
            page_size=args.page_size,
            lro_polls=args.lro_polls,
            lro_seconds=args.lro_seconds,
        )
    except (FleetError, OSError) as exc:
        print(f"emulator: {exc}", file=sys.stderr)
        return 2
    serve_until_signalled(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
