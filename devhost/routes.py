"""Match request paths against Functions route templates (`scans/{id}`), like the host's ASP.NET routing.

Supported template forms are the ones ASP.NET Core routing gives Functions: literal segments (matched
case-insensitively), `{name}`, `{name:constraint}` for int/long/alpha/guid/bool, an optional last
`{name?}` and a last catch-all `{*name}`. Anything else is refused at start-up so a template that would
behave differently in Azure is not silently approximated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

_PARAM = re.compile(
    r"\{(?P<star>\*{1,2})?(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::(?P<constraint>[A-Za-z]+))?(?P<optional>\?)?\}"
)
_CONSTRAINTS = {
    "int": r"-?\d+",
    "long": r"-?\d+",
    "alpha": r"[A-Za-z]+",
    "bool": r"(?:true|false)",
    "guid": r"\{?[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}\}?",
}


class InvalidRoute(ValueError):
    """A route template the dev host cannot match the way the Functions host would."""


@dataclass(frozen=True)
class RouteTemplate:
    template: str
    pattern: re.Pattern[str]
    precedence: tuple[int, ...]  # lower sorts first: literals beat constrained params beat plain params

    def match(self, path: str) -> dict[str, str] | None:
        found = self.pattern.fullmatch(path)
        if found is None:
            return None
        return {k: unquote(v) for k, v in found.groupdict().items() if v is not None}


def _segment(segment: str, last: bool, template: str) -> tuple[str, int]:
    whole = _PARAM.fullmatch(segment)
    if whole and whole.group("star"):
        if not last:
            raise InvalidRoute(f"{template}: a catch-all parameter must be the last segment")
        return rf"(?:/(?P<{whole.group('name')}>.*))?", 4
    if whole and whole.group("optional"):
        if not last:
            raise InvalidRoute(f"{template}: only the last segment may be optional")
        return rf"(?:/(?P<{whole.group('name')}>{_value(whole)}))?", 3
    parts: list[str] = []
    cursor = 0
    rank = 0
    for param in _PARAM.finditer(segment):
        if param.group("star") or param.group("optional"):
            raise InvalidRoute(f"{template}: '{param.group(0)}' must be a whole last segment")
        parts.append(re.escape(segment[cursor : param.start()]))
        parts.append(rf"(?P<{param.group('name')}>{_value(param)})")
        rank = max(rank, 1 if param.group("constraint") else 2)
        cursor = param.end()
    tail = segment[cursor:]
    if "{" in tail or "}" in tail:
        raise InvalidRoute(f"{template}: cannot parse segment {segment!r}")
    parts.append(re.escape(tail))
    return "/" + "".join(parts), rank


def _value(param: re.Match[str]) -> str:
    constraint = param.group("constraint")
    if constraint is None:
        return r"[^/]+"
    if constraint.lower() not in _CONSTRAINTS:
        raise InvalidRoute(f"route constraint {constraint!r} is not supported by the dev host")
    return _CONSTRAINTS[constraint.lower()]


def compile_route(prefix: str, route: str) -> RouteTemplate:
    """Compile `<prefix>/<route>` into a matcher for absolute request paths (`/api/scans/42`)."""
    segments = [s for s in f"{prefix.strip('/')}/{route.strip('/')}".split("/") if s]
    if not segments:
        raise InvalidRoute("an empty route cannot be served")
    names: set[str] = set()
    regex: list[str] = []
    ranks: list[int] = []
    for index, segment in enumerate(segments):
        piece, rank = _segment(segment, index == len(segments) - 1, route)
        for param in _PARAM.finditer(segment):
            if param.group("name").lower() in names:
                raise InvalidRoute(f"{route}: parameter {param.group('name')!r} appears twice")
            names.add(param.group("name").lower())
        regex.append(piece)
        ranks.append(rank)
    pattern = re.compile("".join(regex) + "/?", re.IGNORECASE)
    return RouteTemplate(template=route, pattern=pattern, precedence=tuple(ranks))
