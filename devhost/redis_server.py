"""Start a real `redis-server` (Debian's package) with TLS on a free loopback port, for tests and the demo.

The server stands in for an Azure cache's data plane as far as redis-warden can tell from the outside: TLS
only (the plaintext port is closed), a test CA from `trustme`, the `default` user switched off, and ACL
users whose names are Entra object ids and whose password is the access token the fake credential mints.
That is how Azure Cache for Redis and Azure Managed Redis check Entra ID (`AUTH <oid> <token>`); the token's
signature is Azure's business and cannot be reproduced offline, so only the credential-provider wiring is
exercised here, never Entra itself.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import trustme
from azure.core.credentials import AccessToken

from .azurite import free_port

REDIS_SERVER = "redis-server"
# The data access policy docs/deploy.md asks the operator to grant the warden: key names and TTLs only.
SAMPLER_ACL = "~* -@all +scan +pttl"


class StaticEntraCredential:
    """A `TokenCredential` that mints an unsigned JWT carrying `oid` (what Azure's tokens carry and what
    redis-entraid reads as the user name). The token string is fixed per instance, so a local server can
    hold it as the ACL user's password."""

    def __init__(self, object_id: str, lifetime_s: int = 3600) -> None:
        import jwt  # PyJWT, a dependency of redis-entraid

        self.object_id = object_id
        self.expires_on = int(time.time()) + lifetime_s
        self.token = jwt.encode({"oid": object_id, "exp": self.expires_on, "aud": "https://redis.azure.com"},
                                "offline-test-only-hmac-key-not-a-secret", algorithm="HS256")
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **_: object) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(self.token, self.expires_on)


@dataclass(frozen=True)
class LocalRedis:
    host: str
    tls_port: int
    ca_file: str
    process_id: int


def _wait_for_tls(port: int, ca_file: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    context = ssl.create_default_context(cafile=ca_file)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as raw, context.wrap_socket(
                raw, server_hostname="localhost"
            ):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"redis-server did not accept TLS on port {port} within {timeout}s")


@contextmanager
def start_redis(workdir: Path, users: Mapping[str, str], *, acl: str = SAMPLER_ACL,
                admin: tuple[str, str] | None = None, extra_users: Sequence[str] = (),
                timeout: float = 15.0) -> Iterator[LocalRedis]:
    """A TLS redis-server; `users` maps ACL user name -> password, each granted `acl` (by default exactly
    what key-expiry sampling needs, so any other command the warden sent would fail with NOPERM). `admin`
    (name, password) is a user with every permission, to seed keys; `extra_users` are further `user` lines
    of redis.conf as they are (e.g. `user <oid> on nopass <acl>` for a demo that cannot know the token)."""
    if shutil.which(REDIS_SERVER) is None:
        raise RuntimeError("redis-server is not installed: `make test` installs Debian's package with apt-get")
    workdir.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    ca_file, cert_file, key_file = workdir / "ca.pem", workdir / "server.pem", workdir / "server.key"
    ca.cert_pem.write_to_path(str(ca_file))
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    for blob in cert.cert_chain_pems[1:]:
        blob.write_to_path(str(cert_file), append=True)
    cert.private_key_pem.write_to_path(str(key_file))
    port = free_port()
    lines = [
        "bind 127.0.0.1",
        "port 0",
        f"tls-port {port}",
        f"tls-cert-file {cert_file}",
        f"tls-key-file {key_file}",
        f"tls-ca-cert-file {ca_file}",
        "tls-auth-clients no",
        "tls-protocols \"TLSv1.2 TLSv1.3\"",
        'save ""',
        "appendonly no",
        f"dir {workdir}",
        "user default off",
    ]
    for name, password in users.items():
        lines.append(f"user {name} on >{password} {acl}")
    if admin is not None:
        lines.append(f"user {admin[0]} on >{admin[1]} ~* &* +@all")
    lines += list(extra_users)
    conf = workdir / "redis.conf"
    conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
    log = workdir / "redis.log"
    with log.open("wb") as out:
        process = subprocess.Popen([REDIS_SERVER, str(conf)], stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_for_tls(port, str(ca_file), process, log, timeout)
        yield LocalRedis("localhost", port, str(ca_file), process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
