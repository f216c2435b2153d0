"""Start and stop Azurite (blob, queue, table) on free loopback ports.

Azurite 3.35 is installed from `package.json` into `node_modules/`; it runs with `--skipApiVersionCheck`
because the Python storage SDKs send newer service versions than Azurite knows, and `--inMemoryPersistence`
so every run starts clean and leaves nothing on disk.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AZURITE = ROOT / "node_modules" / ".bin" / "azurite"
# Azurite's well-known development account (public, documented by Microsoft; not a secret).
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Azurite:
    blob_port: int
    queue_port: int
    table_port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{self.blob_port}/{ACCOUNT};"
            f"QueueEndpoint=http://127.0.0.1:{self.queue_port}/{ACCOUNT};"
            f"TableEndpoint=http://127.0.0.1:{self.table_port}/{ACCOUNT};"
        )

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def __enter__(self) -> Azurite:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _wait_listening(ports: list[int], proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = set(ports)
    while pending:
        if proc.poll() is not None:
            raise RuntimeError(f"Azurite exited early with code {proc.returncode}")
        for port in list(pending):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    pending.discard(port)
        if time.monotonic() > deadline:
            raise RuntimeError(f"Azurite did not listen on {sorted(pending)} within {timeout}s")
        time.sleep(0.05)


def start_azurite(log_path: Path | None = None, timeout: float = 30.0) -> Azurite:
    """Start Azurite in memory on three free ports and wait until it accepts connections."""
    if not AZURITE.exists():
        raise RuntimeError("Azurite is not installed: run `make deps` (npm install) first")
    az = Azurite(free_port(), free_port(), free_port())
    cmd = [
        str(AZURITE),
        "--silent",
        "--inMemoryPersistence",
        "--skipApiVersionCheck",
        "--loose",
        "--blobHost", "127.0.0.1", "--blobPort", str(az.blob_port),
        "--queueHost", "127.0.0.1", "--queuePort", str(az.queue_port),
        "--tableHost", "127.0.0.1", "--tablePort", str(az.table_port),
    ]
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115 - owned by the process
    az.process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy())
    try:
        _wait_listening([az.blob_port, az.queue_port, az.table_port], az.process, timeout)
    except BaseException:
        az.stop()
        raise
    return az
