"""The ARM session every service module shares: SDK clients and their pipeline policies, error mapping, and
the hooks that read ARM's answers as sent.

`ArmSession` builds each official SDK client once per subscription with the same policies: bounded retries
(`ArmRetryPolicy`), the reconcile's correlation id on every request (`arm_correlation`, `CorrelationPolicy`)
and per-call timeouts. Every SDK call goes through `ArmSession.call`, so every failure is an `ArmError`.
Reads keep ARM's raw JSON (`raw_json`); writes report the request id of their last response (`ResponseInfo`).

Retries: azure-core's retry policy honours Retry-After for transient failures (408/429/5xx), but only for
short waits and a couple of attempts; anything longer surfaces as `throttled`/`transient` so the engine can
defer the work item instead of blocking a Functions worker for minutes. A 409 is never retried here, and
neither is an answer whose Retry-After is unreadable (azure-core would sleep for `inf`).

Pacing (`arm.pacing`): every attempt of every client waits on the process-wide budget of its subscription
and principal, fed by ARM's remaining-count headers; a 429 pauses that subscription's requests until its
Retry-After has passed.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

from azure.core import PipelineClient
from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError, DeserializationError, HttpResponseError
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import HeadersPolicy, RetryPolicy, SansIOHTTPPolicy, UserAgentPolicy
from azure.core.rest import HttpRequest

from .. import __version__
from ..models import Actor
from ..transport import StartupEnvTransport
from .endpoint import EndpointPinnedAuthenticationPolicy, bounded_pages, bounded_sdk_list
from .errors import ArmError, from_azure_error, malformed_answer
from .pacing import Budgets, PacingPolicy, SubscriptionPaused, read_retry_after, shared_budgets

T = TypeVar("T")

ARM_SCOPE = "https://management.azure.com/.default"

TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class ArmRetryPolicy(RetryPolicy):
    """Retry only transient statuses, and only when the server's Retry-After is short.

    azure-core's default retries any status >= 400 that carries Retry-After (a 409 busy included) and sleeps
    as long as the server asks; a Functions worker must not sleep for a throttled cache.
    """

    def __init__(self, max_retry_after: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_retry_after = max_retry_after

    def is_retry(self, settings: dict[str, Any], response: PipelineResponse[Any, Any]) -> bool:
        status = response.http_response.status_code
        if status not in TRANSIENT_STATUSES:
            return False
        retry_after = read_retry_after(response.http_response.headers)
        if retry_after.unreadable or (retry_after.seconds is not None and retry_after.seconds > self.max_retry_after):
            return False
        return bool(super().is_retry(settings, response))

    def get_retry_after(self, response: PipelineResponse[Any, Any]) -> float | None:
        """Our validated reading (azure-core's own takes `inf`, `nan` or a negative as a sleep)."""
        return read_retry_after(response.http_response.headers).seconds

    def increment(self, settings: dict[str, Any], response: Any = None, error: Any = None) -> bool:
        if isinstance(error, SubscriptionPaused):
            return False  # not sent: our own pacing already waited all it may; the engine defers
        return bool(super().increment(settings, response=response, error=error))


# The reconcile's correlation id; `BoundedArmPolling` carries it into the SDK's poller thread.
correlation_id: ContextVar[str | None] = ContextVar("warden_arm_correlation_id", default=None)


@contextmanager
def arm_correlation(value: str) -> Iterator[None]:
    """Send `x-ms-correlation-request-id` on every ARM call made inside the block. ARM keeps a client-sent
    correlation id and shows it in the Activity Log, so each of our writes can be found there from the
    audit record that names the same id."""
    token = correlation_id.set(value)
    try:
        yield
    finally:
        correlation_id.reset(token)


class CorrelationPolicy(SansIOHTTPPolicy):  # type: ignore[type-arg]
    def on_request(self, request: PipelineRequest[Any]) -> None:
        value = correlation_id.get()
        if value:
            request.http_request.headers["x-ms-correlation-request-id"] = value


def raw_json(pipeline_response: PipelineResponse[Any, Any], deserialized: Any, headers: Any) -> Any:
    """`cls=` hook: ARM's JSON as sent, so absent properties stay absent. A body that is not JSON raises
    the SDK's own DeserializationError, which `ArmSession.call` maps to `MalformedAnswer`."""
    response = pipeline_response.http_response
    text = response.text()
    try:
        return json.loads(text) if text else None
    except ValueError as exc:  # json.JSONDecodeError, or text that is not UTF-8
        raise DeserializationError("ARM's answer is not JSON") from exc


def documented_resource(body: object) -> dict[str, Any]:
    """A resource as ARM documents it: a JSON object whose `properties`, when present, is an object. Anything
    else (a hostile or broken ARM) is `MalformedAnswer`, never read with defaults: `properties` as a string
    once crashed the read with an AttributeError instead of an audited refusal."""
    props = body.get("properties") if isinstance(body, dict) else None
    if not isinstance(body, dict) or not isinstance(props if props is not None else {}, dict):
        raise malformed_answer()
    return body


class ResponseInfo:
    """`raw_response_hook` target: the request id, status and operation status URL (`Azure-AsyncOperation`,
    as ARM sent it: checked by `polling.operation_status` before use) of the last response of one call."""

    def __init__(self) -> None:
        self.request_id: str | None = None
        self.status: int | None = None
        self.status_url: str | None = None

    def __call__(self, pipeline_response: PipelineResponse[Any, Any]) -> None:
        response = pipeline_response.http_response
        self.request_id = response.headers.get("x-ms-request-id")
        self.status = response.status_code
        self.status_url = response.headers.get("Azure-AsyncOperation")

    def done(self, resource: Mapping[str, Any] | None = None, detail: str | None = None) -> ApplyResult:
        """A write ARM finished in its answer (a PUT or DELETE that is not long-running)."""
        return ApplyResult(True, self.request_id, detail=detail or f"HTTP {self.status}", resource=resource)


@dataclass(frozen=True)
class ApplyResult:
    # False: ARM accepted the write but it was still running when we stopped waiting, or its status poll
    # went unanswered; a later reconcile reads the outcome (its status URL, else the cache).
    done: bool
    request_id: str | None
    detail: str = ""
    resource: Mapping[str, Any] | None = None
    status_url: str | None = None  # a pending write's Azure-AsyncOperation, as ARM sent it


class ArmSession:
    """One ARM endpoint and credential: SDK clients built once per subscription with the shared policies, a
    plain pipeline for types we have no SDK for, and the timeouts every call carries. Settings are read on
    each call, so a changed `timeout` applies to the next call. `rate_scale` multiplies ARM's refill rates in
    the pacing model (benchmarks against a time-scaled emulator; 1 in Azure)."""

    def __init__(
        self,
        arm_endpoint: str,
        credential: TokenCredential,
        *,
        timeout: float = 30.0,
        lro_wait_seconds: float = 20.0,
        polling_interval: float = 1.0,
        retry_total: int = 2,
        max_retry_after: float = 5.0,
        rate_scale: float = 1.0,
        budgets: Budgets | None = None,
    ) -> None:
        self.arm_endpoint = arm_endpoint.rstrip("/")
        self.credential = credential
        self.timeout = timeout
        self.lro_wait_seconds = lro_wait_seconds
        self.polling_interval = polling_interval
        self.retry_total = retry_total
        self.max_retry_after = max_retry_after
        # Shared by every session of the process (so by every reconcile), keyed by endpoint and principal.
        self.budgets = budgets if budgets is not None else shared_budgets(rate_scale)
        self._lock = threading.Lock()
        self._clients: dict[tuple[type, str], Any] = {}
        self._pipeline: PipelineClient[Any, Any] | None = None
        self._principal: str | None = None
        self._principal_lock = threading.Lock()

    @property
    def timeouts(self) -> dict[str, float]:
        """The per-call `connection_timeout` and `read_timeout` keyword arguments."""
        return {"connection_timeout": min(10.0, self.timeout), "read_timeout": self.timeout}

    def client_kwargs(self) -> dict[str, Any]:
        return {
            "base_url": self.arm_endpoint,
            # The environment (CA bundle, proxies) is read when the client is built, not on every request.
            "transport": StartupEnvTransport(**self.timeouts),
            "polling_interval": self.polling_interval,
            "per_call_policies": [CorrelationPolicy()],
            # After the retry policy: each attempt, retries included, waits on its subscription's budget.
            "per_retry_policies": [PacingPolicy(self.budgets, self.arm_endpoint, self.principal)],
            # The only authentication policy: refuses any request off WARDEN_ARM_ENDPOINT before the token
            # is attached (nextLink, Azure-AsyncOperation, Location, redirects, ids pasted into paths).
            "authentication_policy": EndpointPinnedAuthenticationPolicy(
                self.credential, ARM_SCOPE, endpoint=self.arm_endpoint
            ),
            "retry_policy": ArmRetryPolicy(
                self.max_retry_after,
                retry_total=self.retry_total,
                retry_backoff_factor=0.5,
                retry_backoff_max=self.max_retry_after,
            ),
            **self.timeouts,
        }

    def client(self, factory: Callable[..., T], subscription_id: str) -> T:
        """The SDK client `factory(credential, subscription_id, **policies)`, built once per subscription."""
        key = (factory, subscription_id)
        with self._lock:
            client = self._clients.get(key)  # type: ignore[arg-type]
            if client is None:
                client = factory(self.credential, subscription_id, **self.client_kwargs())
                self._clients[key] = client  # type: ignore[index]
            return client  # type: ignore[no-any-return]

    def pipeline(self) -> PipelineClient[Any, Any]:
        """A plain ARM pipeline with the SDK clients' policies (token, correlation id, bounded retries), for
        reads of resource types we have no SDK for."""
        with self._lock:
            if self._pipeline is None:
                kwargs = self.client_kwargs()
                self._pipeline = PipelineClient(
                    self.arm_endpoint,
                    policies=[
                        HeadersPolicy({"Accept": "application/json"}),
                        UserAgentPolicy(sdk_moniker=f"redis-warden/{__version__}"),
                        *kwargs["per_call_policies"],
                        kwargs["retry_policy"],
                        *kwargs["per_retry_policies"],
                        kwargs["authentication_policy"],
                    ],
                    transport=kwargs["transport"],
                )
            return self._pipeline

    def list(self, path: str, api_version: str) -> list[dict[str, Any]]:
        """GET a list API on `path` (built from strictly parsed ids only), following nextLink within the
        paging bounds (`endpoint.bounded_pages`); errors map like the SDK's."""
        client = self.pipeline()

        def fetch(url: str) -> tuple[list[dict[str, Any]], str | None]:
            response = self.call(lambda req=HttpRequest("GET", url): client.send_request(req, **self.timeouts))
            if response.status_code >= 400:
                raise from_azure_error(HttpResponseError(response=response))
            try:
                body = response.json() if response.text() else {}
            except ValueError:  # not JSON at all
                raise malformed_answer() from None
            value = body.get("value") if isinstance(body, dict) else None
            if not isinstance(body, dict) or not isinstance(value if value is not None else [], list):
                raise malformed_answer()  # a list answer is an object whose `value` is an array
            link = body.get("nextLink")
            return [i for i in value or () if isinstance(i, dict)], link if isinstance(link, str) else None

        return self.call(lambda: bounded_pages(f"{self.arm_endpoint}{path}?api-version={api_version}", fetch,
                                               what=path))

    def get(self, path: str, api_version: str) -> dict[str, Any]:
        """GET one resource on `path` (built from strictly parsed ids only) as ARM's raw JSON object, through
        the plain pipeline: the SDK's `get(..., cls=raw_json)` still builds its model from the body before
        the hook runs, a cost per read for nothing we use (issue 13). Errors map like the SDK's."""
        client = self.pipeline()
        url = f"{self.arm_endpoint}{path}?api-version={api_version}"
        response = self.call(lambda: client.send_request(HttpRequest("GET", url), **self.timeouts))
        if response.status_code >= 400:
            raise from_azure_error(HttpResponseError(response=response))
        try:
            body = json.loads(response.text() or "null")
        except ValueError as exc:
            raise ArmError("transient", f"{path}: the answer is not JSON ({exc})", code="InvalidJson") from exc
        if not isinstance(body, dict):
            raise ArmError("transient", f"{path}: ARM returned no JSON object", code="EmptyBody")
        return body

    def list_sdk(self, pages: Callable[[], Any], what: str) -> list[Any]:
        """An SDK list call (`ItemPaged`), read page by page within the paging bounds."""
        return self.call(lambda: bounded_sdk_list(pages(), what=what))

    @staticmethod
    def call(fn: Callable[[], T]) -> T:
        """Run one SDK call; every azure-core failure becomes an `ArmError`, and so does an answer the SDK
        cannot deserialise (a `DeserializationError` is a ValueError, not an AzureError: a list page whose
        `value` is not an array once escaped as a crash, answering HTTP 500 and stopping the nightly scan)."""
        try:
            return fn()
        except AzureError as exc:
            raise from_azure_error(exc) from exc
        except DeserializationError as exc:
            raise malformed_answer() from exc

    def principal(self) -> str:
        """Whom ARM meters our requests against (the token's object id, else its app id), worked out once;
        a credential whose token is not a JWT is metered as itself."""
        with self._principal_lock:
            if self._principal is None:
                try:
                    actor = self.own_identity()
                except ArmError as exc:
                    if exc.code != "InvalidToken":
                        return f"credential-{id(self.credential):x}"  # no token now: worked out next time
                    self._principal = f"credential-{id(self.credential):x}"
                else:
                    self._principal = (actor.object_id or actor.app_id or "unknown").lower()
            return self._principal

    def own_identity(self) -> Actor:
        """Who the warden is to ARM, from its own access token's payload (no signature check is needed:
        the token came straight from our credential), so our own writes can be recognised in events."""
        token = self.call(lambda: self.credential.get_token(ARM_SCOPE)).token
        parts = token.split(".")
        if len(parts) != 3:
            raise ArmError("blocked", "the ARM access token is not a JWT", code="InvalidToken")
        claims = _b64url_json(parts[1])
        idtyp = claims.get("idtyp")
        return Actor(
            object_id=claims.get("oid"),
            app_id=claims.get("appid") or claims.get("azp"),
            principal_type={"app": "ServicePrincipal", "user": "User"}.get(str(idtyp)) if idtyp else None,
            upn=claims.get("upn"),
            name=claims.get("name"),
            managed_identity_id=claims.get("xms_mirid"),
        )


def _b64url_json(part: str) -> dict[str, Any]:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise ArmError("blocked", f"the ARM access token is not a JWT: {exc}", code="InvalidToken") from exc
    if not isinstance(decoded, dict):
        raise ArmError("blocked", "the ARM access token payload is not an object", code="InvalidToken")
    return decoded
