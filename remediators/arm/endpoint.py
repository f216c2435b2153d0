"""Every ARM request stays on WARDEN_ARM_ENDPOINT, and paging stays bounded.

ARM answers carry URLs the client follows on its own: `nextLink` on list pages, `Azure-AsyncOperation` and
`Location` on long-running operations. Any of them may point elsewhere (a compromised or impersonated
answer, or an id pasted into a path), and the pipeline would attach the identity's bearer token to that
request. `EndpointPinnedAuthenticationPolicy` is the only authentication policy every ARM client uses (SDK
and raw): it refuses, before the token is attached, any request whose scheme, host or port is not the
endpoint's. Redirects, retries and LRO polls all pass through it, since the token is attached per request.

Paging: a list is read page by page with bounds on pages and items and a refusal of a link seen before
(a `nextLink` pointing at itself paged for ever); a cut list raises `PagingCut`, so the caller records it
instead of acting on a partial list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from azure.core.exceptions import AzureError, ClientAuthenticationError
from azure.core.pipeline import PipelineRequest
from azure.mgmt.core.policies import ARMChallengeAuthenticationPolicy

T = TypeVar("T")
MAX_PAGES = 200
MAX_ITEMS = 20_000
_DEFAULT_PORTS = {"https": 443, "http": 80}


class OffEndpointRequest(ClientAuthenticationError):
    """A request to somewhere other than WARDEN_ARM_ENDPOINT was refused before a token was attached. A
    ClientAuthenticationError so the retry policy propagates it at once (retrying cannot make it safe)."""


class PagingCut(AzureError):
    """A list was cut at a bound (pages, items, or a link that repeats); its items must not be acted on."""


@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str
    port: int

    @classmethod
    def of(cls, url: str) -> Origin:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        try:
            port = parts.port
        except ValueError:
            port = -1
        host = (parts.hostname or "").lower().rstrip(".")
        return cls(scheme, host, port if port is not None else _DEFAULT_PORTS.get(scheme, -1))


def same_origin(url: str, endpoint: str) -> bool:
    """True when `url` has exactly the endpoint's scheme, host and port (no user info either)."""
    if "@" in (urlsplit(url).netloc or ""):
        return False
    target, pinned = Origin.of(url), Origin.of(endpoint)
    return bool(target.host) and target == pinned


class EndpointPinnedAuthenticationPolicy(ARMChallengeAuthenticationPolicy):
    """ARM's bearer-token policy that refuses to authorise a request off the pinned endpoint."""

    def __init__(self, credential: Any, *scopes: str, endpoint: str, **kwargs: Any) -> None:
        super().__init__(credential, *scopes, **kwargs)
        self.endpoint = endpoint
        self.refused: list[str] = []  # origins refused (for logs and tests), never the full URL with query

    def on_request(self, request: PipelineRequest[Any]) -> None:
        url = request.http_request.url
        if not same_origin(url, self.endpoint):
            origin = Origin.of(url)
            self.refused.append(f"{origin.scheme}://{origin.host}:{origin.port}")
            raise OffEndpointRequest(
                f"refused a request to {origin.scheme}://{origin.host}:{origin.port}: not WARDEN_ARM_ENDPOINT "
                f"{self.endpoint} (a link or id in an ARM answer pointed elsewhere); no token was sent"
            )
        super().on_request(request)


def bounded_pages(
    first: str, fetch: Callable[[str], tuple[list[T], str | None]], *, what: str,
    max_pages: int = MAX_PAGES, max_items: int = MAX_ITEMS,
) -> list[T]:
    """Follow `nextLink`s from `first` through `fetch(url) -> (items, next)` within the bounds."""
    seen: set[str] = set()
    items: list[T] = []
    url: str | None = first
    pages = 0
    while url:
        if url in seen:
            raise PagingCut(f"{what}: nextLink repeats a page already read after {pages} page(s)")
        if pages >= max_pages:
            raise PagingCut(f"{what}: more than {max_pages} pages")
        seen.add(url)
        page, url = fetch(url)
        pages += 1
        items.extend(page)
        if len(items) > max_items:
            raise PagingCut(f"{what}: more than {max_items} items")
    return items


def bounded_sdk_list(paged: Any, *, what: str, max_pages: int = MAX_PAGES, max_items: int = MAX_ITEMS) -> list[Any]:
    """An SDK `ItemPaged`, page by page, with the same bounds and repeated-link check."""
    pages_iter = paged.by_page()
    items: list[Any] = []
    seen: set[str] = set()
    for n, page in enumerate(_pages(pages_iter), start=1):
        items.extend(page)
        if n > max_pages:
            raise PagingCut(f"{what}: more than {max_pages} pages")
        if len(items) > max_items:
            raise PagingCut(f"{what}: more than {max_items} items")
        token = getattr(pages_iter, "continuation_token", None)
        if token:
            if token in seen:
                raise PagingCut(f"{what}: nextLink repeats a page already read after {n} page(s)")
            seen.add(token)
    return items


def _pages(pages_iter: Iterable[Iterable[Any]]) -> Iterator[list[Any]]:
    for page in pages_iter:
        yield list(page)
