"""A real headless Chromium (Debian's `chromium`) driven over the DevTools protocol on a pipe.

`--remote-debugging-pipe` makes Chromium read protocol commands from fd 3 and write replies and events to
fd 4, each a JSON message ended by NUL: no port, no websocket library, nothing else installed. We open a
page, collect everything it says (console calls, uncaught exceptions, Log entries such as Content-Security-
Policy violations, every network request), evaluate a probe in it and take a full-page screenshot.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--disable-default-apps", "--mute-audio", "--hide-scrollbars")


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class PageVisit:
    console: list[dict[str, Any]] = field(default_factory=list)  # Runtime.consoleAPICalled params
    exceptions: list[dict[str, Any]] = field(default_factory=list)  # Runtime.exceptionThrown params
    log: list[dict[str, Any]] = field(default_factory=list)  # Log.entryAdded entries
    requests: list[str] = field(default_factory=list)  # every URL the page asked for
    dialogs: list[str] = field(default_factory=list)  # alert()/confirm() a script opened
    probe: Any = None
    screenshot: bytes = b""

    @property
    def errors(self) -> list[str]:
        out = [f"console.{c.get('type')}: {c.get('args')}" for c in self.console if c.get("type") in
               ("error", "assert", "warning")]
        out += [f"exception: {e.get('exceptionDetails', {}).get('text')}" for e in self.exceptions]
        out += [f"log {e.get('level')}: {e.get('text')}" for e in self.log if e.get("level") in ("error", "warning")]
        return out


class Chromium:
    def __init__(self, timeout: float = 60.0) -> None:
        exe = chromium_path()
        if exe is None:
            raise RuntimeError("chromium is not installed (make test installs Debian's chromium)")
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="warden-chromium-")
        cmd_r, self._cmd_w = os.pipe()
        self._resp_r, resp_w = os.pipe()

        def wire() -> None:  # in the child: fd 3 = commands in, fd 4 = replies out
            high_r, high_w = os.dup(cmd_r), os.dup(resp_w)  # either may already sit on 3 or 4
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        self.stderr_path = Path(self.profile) / "chromium-stderr.log"
        with open(self.stderr_path, "wb") as stderr:
            self.proc = subprocess.Popen(  # fds 3 and 4 are kept open because preexec_fn runs before close_fds
                [exe, *FLAGS, f"--user-data-dir={self.profile}", "--remote-debugging-pipe", "about:blank"],
                preexec_fn=wire, pass_fds=(3, 4), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
            )
        os.close(cmd_r)
        os.close(resp_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def _send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> Any:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._cmd_w, json.dumps(message).encode() + b"\0")
        wanted = self._next_id
        while True:
            reply = self._read()
            if reply.get("id") == wanted:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def _read(self) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("chromium did not answer")
            chunk = os.read(self._resp_r, 65536)
            if not chunk:
                raise RuntimeError("chromium closed the pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def _wait_for(self, method: str, session: str) -> None:
        if any(e.get("method") == method and e.get("sessionId") == session for e in self.events):
            return
        while True:
            event = self._read()
            self.events.append(event)
            if event.get("method") == "Page.javascriptDialogOpening" and event.get("sessionId") == session:
                # an alert() blocks the page (and its load event) until answered: record it and dismiss it
                self._send("Page.handleJavaScriptDialog", {"accept": True}, session)
            if event.get("method") == method and event.get("sessionId") == session:
                return

    def visit(self, url: str, probe: str, width: int = 1200, height: int = 900) -> PageVisit:
        target = self._send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self._send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self._send(f"{domain}.enable", session=session)
        self._send("Emulation.setDeviceMetricsOverride",
                   {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session)
        self.events.clear()
        self._send("Page.navigate", {"url": url}, session)
        self._wait_for("Page.loadEventFired", session)
        result = self._send("Runtime.evaluate", {"expression": probe, "returnByValue": True}, session)
        shot = self._send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session)
        visit = PageVisit(probe=result.get("result", {}).get("value"), screenshot=base64.b64decode(shot["data"]))
        for e in self.events:
            if e.get("sessionId") != session:
                continue
            params = e.get("params", {})
            if e.get("method") == "Runtime.consoleAPICalled":
                visit.console.append({"type": params.get("type"),
                                      "args": [a.get("value", a.get("description")) for a in params.get("args", [])]})
            elif e.get("method") == "Runtime.exceptionThrown":
                visit.exceptions.append(params)
            elif e.get("method") == "Log.entryAdded":
                visit.log.append(params.get("entry", {}))
            elif e.get("method") == "Page.javascriptDialogOpening":
                visit.dialogs.append(str(params.get("message")))
            elif e.get("method") == "Network.requestWillBeSent":
                visit.requests.append(params.get("request", {}).get("url", ""))
        return visit

    def close(self) -> None:
        try:
            self._send("Browser.close")
        except (RuntimeError, TimeoutError, OSError):
            self.proc.kill()  # it did not close by itself; this is our own child process
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=20)
        for fd in (self._cmd_w, self._resp_r):
            try:
                os.close(fd)
            except OSError:
                continue
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def png_colours(data: bytes) -> tuple[int, int, int]:
    """(width, height, distinct colours) of a screenshot: a blank page has one colour, a drawn one hundreds."""
    with Image.open(io.BytesIO(data)) as image:
        rgb = image.convert("RGB")
        colours = rgb.getcolors(maxcolors=1 << 20)
        return rgb.width, rgb.height, len(colours) if colours is not None else 1 << 20


def save(data: bytes, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
