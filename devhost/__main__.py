"""`python -m devhost`: run function_app.py locally where Azure Functions Core Tools are not installed.

Like `func start`, app settings come from the environment plus `local.settings.json` `Values` (exported
into the environment, because the app's own code reads its settings from there; a variable already set in
the environment wins). `--azurite` starts an in-memory Azurite and points `AzureWebJobsStorage` at it.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

import azure.functions as func

from devhost.azurite import Azurite, start_azurite
from devhost.host import DEFAULT_HOST_JSON, STORAGE_SETTING, DevHost


def load_app(target: str) -> func.FunctionApp:
    module_name, _, attribute = target.partition(":")
    sys.path.insert(0, os.getcwd())
    app = getattr(importlib.import_module(module_name), attribute or "app")
    if not isinstance(app, func.FunctionApp):
        raise SystemExit(f"{target} is not an azure.functions.FunctionApp")
    return app


def export_local_settings(path: Path) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    values = document.get("Values") or {}
    if not isinstance(values, dict):
        raise SystemExit(f"{path}: 'Values' must be an object")
    for name, value in values.items():
        os.environ.setdefault(name, str(value))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__)
    parser.add_argument("--app", default="function_app:app", help="module:attribute of the FunctionApp")
    parser.add_argument("--port", type=int, default=7071, help="HTTP port on 127.0.0.1 (0 = any free port)")
    parser.add_argument("--host-json", type=Path, default=DEFAULT_HOST_JSON)
    parser.add_argument("--settings", type=Path, default=Path("local.settings.json"),
                        help="local.settings.json whose Values are exported (skipped if absent)")
    parser.add_argument("--function-key", default=os.environ.get("DEVHOST_FUNCTION_KEY"),
                        help="key for function-level routes (default: $DEVHOST_FUNCTION_KEY or generated)")
    parser.add_argument("--master-key", default=os.environ.get("DEVHOST_MASTER_KEY"),
                        help="master key for admin routes and /admin/ (default: $DEVHOST_MASTER_KEY or generated)")
    parser.add_argument("--azurite", action="store_true", help="start Azurite and use it as AzureWebJobsStorage")
    parser.add_argument("--verbose", action="store_true")
    return parser


def _print_banner(host: DevHost) -> None:
    print(f"Function key: {host.function_key}")
    print(f"Master key:   {host.master_key}")
    for spec in host.spec.http:
        methods = ",".join(spec.methods) or "ANY"
        print(f"  {spec.name}: [{methods}] {host.http_base_url}/{host.config.route_prefix}/{spec.route}"
              f"  (auth: {spec.auth_level})")
    admin = f"POST {host.http_base_url}/admin/functions/<name> with the master key"
    for queue in host.spec.queues:
        print(f"  {queue.name}: queue {queue.queue_name}")
    for timer in host.spec.timers:
        print(f"  {timer.name}: timer '{timer.schedule}' (not scheduled; run it with {admin})")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("azure").setLevel(logging.WARNING)
    if args.settings.is_file():
        export_local_settings(args.settings)
    azurite: Azurite | None = None
    if args.azurite:
        azurite = start_azurite()
        os.environ[STORAGE_SETTING] = azurite.connection_string
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        host = DevHost(load_app(args.app), host_json=args.host_json, port=args.port,
                       function_key=args.function_key, master_key=args.master_key)
        with host:
            _print_banner(host)
            stop.wait()
    finally:
        if azurite is not None:
            azurite.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
