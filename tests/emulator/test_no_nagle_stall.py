"""Our HTTP servers send a response's headers and body in two writes. With Nagle's algorithm on, the second
write waits for the client's delayed ACK (about 40 ms on Linux) on every kept-alive request: every ARM call a
test or bench made took about 44 ms instead of about 1.4 ms, a stall ARM does not have. Each handler turns it
off (socketserver.StreamRequestHandler sets TCP_NODELAY on the accepted socket)."""

from __future__ import annotations

import socket

import requests

from devhost.http_frontend import _handler_class
from emulator.logs_ingestion import _Handler as LogsHandler
from emulator.server import EmulatorServer
from emulator.server import _Handler as ArmHandler
from emulator.testing import sample_cache


def test_every_handler_turns_nagle_off() -> None:
    dev_handler = _handler_class(None, 1024)  # type: ignore[arg-type]
    assert ArmHandler.disable_nagle_algorithm and LogsHandler.disable_nagle_algorithm
    assert dev_handler.disable_nagle_algorithm


def test_the_emulator_s_accepted_socket_has_tcp_nodelay() -> None:
    seen: list[int] = []
    setup = ArmHandler.setup

    def recording(self: ArmHandler) -> None:
        setup(self)
        seen.append(self.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    ArmHandler.setup = recording  # type: ignore[method-assign]
    try:
        with EmulatorServer([sample_cache("nagle")]) as arm:
            requests.get(arm.arm_endpoint + "/_emulator/requests", verify=arm.ca_bundle, timeout=10)
    finally:
        ArmHandler.setup = setup  # type: ignore[method-assign]
    assert seen and all(seen)
