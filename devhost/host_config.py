"""The parts of `host.json` the dev host honours, parsed into frozen settings.

The dev host must behave like the Functions host that reads the same file in Azure, so every knob it uses
comes from `host.json` rather than from its own defaults. The one deliberate difference: the real host
falls back to base64 when `extensions.queues.messageEncoding` is absent, but this project requires the
setting to be explicit (Event Grid writes base64 and everything we enqueue must match), so a missing value
is refused instead of silently defaulted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any


class HostConfigError(ValueError):
    """host.json is missing a setting the dev host needs, or holds a value the Functions host would refuse."""


ENCODINGS = ("base64", "none")

# .NET TimeSpan "[d.]hh:mm:ss[.fffffff]", the format the Functions host parses for host.json durations.
_TIMESPAN = re.compile(r"^(?:(?P<d>\d+)\.)?(?P<h>\d{1,2}):(?P<m>\d{1,2}):(?P<s>\d{1,2})(?:\.(?P<f>\d{1,7}))?$")

# Defaults of the Storage Queues extension 5.x (QueuesOptions) for the knobs that may be left out.
_DEFAULT_BATCH_SIZE = 16
_DEFAULT_MAX_DEQUEUE = 5
_DEFAULT_VISIBILITY = timedelta(0)
_DEFAULT_MAX_POLL = timedelta(minutes=1)
_DEFAULT_FUNCTION_TIMEOUT = timedelta(minutes=30)


def parse_timespan(value: str, setting: str) -> timedelta:
    """Parse a .NET TimeSpan string; the error names the setting so a bad host.json is easy to fix."""
    match = _TIMESPAN.match(value.strip()) if isinstance(value, str) else None
    if not match:
        raise HostConfigError(f"{setting}: {value!r} is not a TimeSpan like '00:00:30'")
    fraction = match.group("f") or "0"
    return timedelta(
        days=int(match.group("d") or 0),
        hours=int(match.group("h")),
        minutes=int(match.group("m")),
        seconds=int(match.group("s")),
        microseconds=int(fraction.ljust(7, "0")) // 10,
    )


@dataclass(frozen=True)
class QueueOptions:
    message_encoding: str
    max_dequeue_count: int
    visibility_timeout: timedelta
    batch_size: int
    max_polling_interval: timedelta


@dataclass(frozen=True)
class HostConfig:
    queues: QueueOptions
    function_timeout: timedelta | None  # None = unbounded ("-1", allowed on Premium, Dedicated and Flex)
    route_prefix: str


def _int_in(section: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = section.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise HostConfigError(f"extensions.queues.{key}: {value!r} must be an integer in [{low}, {high}]")
    return value


def _queue_options(queues: Mapping[str, Any]) -> QueueOptions:
    encoding = queues.get("messageEncoding")
    if encoding is None:
        raise HostConfigError(
            "extensions.queues.messageEncoding is not set: set it explicitly ('base64' matches Event Grid)"
        )
    if not isinstance(encoding, str) or encoding.lower() not in ENCODINGS:
        raise HostConfigError(f"extensions.queues.messageEncoding: {encoding!r} is not one of {ENCODINGS}")
    visibility = queues.get("visibilityTimeout")
    max_poll = queues.get("maxPollingInterval")
    max_poll_td = (
        parse_timespan(max_poll, "extensions.queues.maxPollingInterval") if max_poll else _DEFAULT_MAX_POLL
    )
    if max_poll_td < timedelta(milliseconds=100):
        raise HostConfigError("extensions.queues.maxPollingInterval: the Functions host minimum is 00:00:00.1")
    return QueueOptions(
        message_encoding=encoding.lower(),
        max_dequeue_count=_int_in(queues, "maxDequeueCount", _DEFAULT_MAX_DEQUEUE, 1, 1_000_000),
        visibility_timeout=(
            parse_timespan(visibility, "extensions.queues.visibilityTimeout") if visibility else _DEFAULT_VISIBILITY
        ),
        batch_size=_int_in(queues, "batchSize", _DEFAULT_BATCH_SIZE, 1, 32),
        max_polling_interval=max_poll_td,
    )


def parse_host_config(document: Mapping[str, Any]) -> HostConfig:
    """Validate a host.json document (already parsed JSON) and keep what the dev host acts on."""
    if document.get("version") != "2.0":
        raise HostConfigError("version: host.json must declare version '2.0'")
    extensions = document.get("extensions") or {}
    queues = extensions.get("queues")
    if not isinstance(queues, Mapping):
        raise HostConfigError("extensions.queues is missing: messageEncoding must be set explicitly")
    timeout = document.get("functionTimeout")
    http = extensions.get("http") or {}
    prefix = http.get("routePrefix", "api")
    if not isinstance(prefix, str):
        raise HostConfigError(f"extensions.http.routePrefix: {prefix!r} is not a string")
    if timeout == "-1":
        function_timeout = None
    else:
        function_timeout = parse_timespan(timeout, "functionTimeout") if timeout else _DEFAULT_FUNCTION_TIMEOUT
    return HostConfig(
        queues=_queue_options(queues),
        function_timeout=function_timeout,
        route_prefix=prefix.strip("/"),
    )


def load_host_config(source: str | Path | Mapping[str, Any]) -> HostConfig:
    """Read host.json from a path, or take an already-parsed document (tests pass dicts)."""
    if isinstance(source, Mapping):
        return parse_host_config(source)
    with open(source, encoding="utf-8") as handle:
        document = json.load(handle)
    if not isinstance(document, dict):
        raise HostConfigError(f"{source}: host.json must hold a JSON object")
    return parse_host_config(document)
