"""A tiny evaluator for exactly the Kusto (KQL) subset infra/queries/*.kql use, run over in-memory rows.

No Kusto engine can run offline, so the alert queries are tested by evaluating their own text here. The
subset is deliberately small and strict: a table name, then `where`, `extend`, `summarize NAME = count() by
...` and `project`; `and`, `or`, `not()`, `==`, `!=`, `=~`, `!~`, `<`, `<=`, `>`, `>=`, `in~`, `!in~`; the
functions `ipv4_is_in_any_range`, `isnull`, `isnotempty`, `dynamic([...])`. Anything else raises
`KqlUnsupported`, so a query edited to use another operator fails its test instead of passing untested.
Columns are checked against the table's documented schema: a misspelt column fails too.

Semantics follow Kusto's documentation where it matters for alerting: comparisons with null are null,
`where` keeps only rows whose predicate is true, `and`/`or` are three-valued, string `==` is case-sensitive
and `=~`/`in~` are not, `ipv4_is_in_any_range` is null when the address is not IPv4.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Row = dict[str, Any]


class KqlUnsupported(ValueError):
    """The query uses something this evaluator (and so the tests) does not cover."""


_TOKEN = re.compile(
    r"""\s+|//[^\n]*|(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<num>\d+(?:\.\d+)?)"""
    r"""|(?P<op>!in~|in~|==|!=|=~|!~|>=|<=|[|(),=<>\[\]])|(?P<id>[A-Za-z_][A-Za-z0-9_]*)|(?P<bad>.)"""
)


def tokenize(text: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        if kind is None:
            continue
        value = m.group(kind)
        if kind == "bad":
            raise KqlUnsupported(f"unexpected character {value!r}")
        if kind == "str":
            value = bytes(value[1:-1], "utf-8").decode("unicode_escape")
        elif kind == "num":
            value = float(value) if "." in value else int(value)
        out.append((kind, value))
    return out


def _in_range(ip: Any, ranges: Sequence[str]) -> bool | None:
    try:
        address = ipaddress.IPv4Address(ip) if isinstance(ip, str) else None
    except ValueError:
        address = None
    if address is None:
        return None
    return any(address in ipaddress.IPv4Network(r, strict=False) for r in ranges)


def _cmp(op: str, a: Any, b: Any) -> bool | None:
    if a is None or b is None:
        return None
    if op == "==":
        return a == b
    if op == "!=":
        return a != b
    if op in ("=~", "!~"):
        same = str(a).lower() == str(b).lower()
        return same if op == "=~" else not same
    if op == "in~":
        return str(a).lower() in {str(x).lower() for x in b}
    if op == "!in~":
        return str(a).lower() not in {str(x).lower() for x in b}
    return {">": a > b, ">=": a >= b, "<": a < b, "<=": a <= b}[op]


Expr = Callable[[Row], Any]


class _Parser:
    def __init__(self, tokens: list[tuple[str, Any]], columns: set[str]) -> None:
        self.t = tokens
        self.i = 0
        self.columns = columns

    def peek(self, value: Any = None) -> bool:
        return self.i < len(self.t) and (value is None or self.t[self.i][1] == value)

    def take(self, value: Any = None) -> Any:
        if not self.peek(value):
            got = self.t[self.i][1] if self.i < len(self.t) else "end of query"
            raise KqlUnsupported(f"expected {value!r}, got {got!r}")
        self.i += 1
        return self.t[self.i - 1][1]

    def ident(self) -> str:
        if self.i >= len(self.t) or self.t[self.i][0] != "id":
            raise KqlUnsupported("expected a name")
        return str(self.take())

    # expressions ----------------------------------------------------------------------------------------
    def expr(self) -> Expr:
        left = self.conj()
        while self.peek("or"):
            self.take()
            right = self.conj()
            left = (lambda a, b: lambda r: _or(a(r), b(r)))(left, right)
        return left

    def conj(self) -> Expr:
        left = self.comparison()
        while self.peek("and"):
            self.take()
            right = self.comparison()
            left = (lambda a, b: lambda r: _and(a(r), b(r)))(left, right)
        return left

    def comparison(self) -> Expr:
        left = self.primary()
        if self.i < len(self.t) and self.t[self.i][1] in ("==", "!=", "=~", "!~", ">", ">=", "<", "<=", "in~", "!in~"):
            op = self.take()
            if op in ("in~", "!in~"):
                self.take("(")
                items = [self.literal()]
                while self.peek(","):
                    self.take()
                    items.append(self.literal())
                self.take(")")
                return lambda r: _cmp(op, left(r), items)
            right = self.primary()
            return lambda r: _cmp(op, left(r), right(r))
        return left

    def literal(self) -> Any:
        kind, value = self.t[self.i]
        if kind not in ("str", "num"):
            raise KqlUnsupported(f"expected a literal, got {value!r}")
        self.i += 1
        return value

    def primary(self) -> Expr:
        kind, value = self.t[self.i]
        if kind in ("str", "num"):
            self.i += 1
            return lambda r: value
        if value == "(":
            self.take("(")
            inner = self.expr()
            self.take(")")
            return inner
        name = self.ident()
        if name in ("true", "false"):
            return lambda r: name == "true"
        if not self.peek("("):
            if name not in self.columns:
                raise KqlUnsupported(f"column {name!r} is not in the table's documented schema")
            return lambda r: r.get(name)
        self.take("(")
        if name == "not":
            inner = self.expr()
            self.take(")")
            return lambda r: None if inner(r) is None else not inner(r)
        if name in ("isnull", "isnotempty"):
            inner = self.expr()
            self.take(")")
            if name == "isnull":
                return lambda r: inner(r) is None
            return lambda r: inner(r) is not None and inner(r) != ""
        if name == "ipv4_is_in_any_range":
            ip = self.expr()
            self.take(",")
            ranges = self.dynamic()
            self.take(")")
            for text in ranges:
                ipaddress.IPv4Network(text, strict=False)  # a malformed range is a broken query
            return lambda r: _in_range(ip(r), ranges)
        raise KqlUnsupported(f"function {name}() is not supported")

    def dynamic(self) -> list[Any]:
        self.take("dynamic")
        self.take("(")
        self.take("[")
        items: list[Any] = []
        while not self.peek("]"):
            items.append(self.literal())
            if self.peek(","):
                self.take()
        self.take("]")
        self.take(")")
        return items


def _and(a: Any, b: Any) -> bool | None:
    if a is False or b is False:
        return False
    return None if a is None or b is None else True


def _or(a: Any, b: Any) -> bool | None:
    if a is True or b is True:
        return True
    return None if a is None or b is None else False


def run(query: str, tables: Mapping[str, Sequence[Row]], schemas: Mapping[str, Mapping[str, type]]) -> list[Row]:
    """Evaluate `query` over `tables` (rows per table name); `schemas` are the documented columns."""
    tokens = tokenize(query)
    p = _Parser(tokens, set())
    table = p.ident()
    if table not in schemas:
        raise KqlUnsupported(f"table {table!r} has no documented schema here")
    p.columns = set(schemas[table])
    rows = [dict(r) for r in tables.get(table, ())]
    while p.peek("|"):
        p.take("|")
        op = p.ident()
        if op == "where":
            pred = p.expr()
            rows = [r for r in rows if pred(r) is True]
        elif op == "extend":
            while True:
                name = p.ident()
                p.take("=")
                value = p.expr()
                rows = [{**r, name: value(r)} for r in rows]
                p.columns.add(name)
                if not p.peek(","):
                    break
                p.take(",")
        elif op == "summarize":
            name = p.ident()
            p.take("=")
            p.take("count")
            p.take("(")
            p.take(")")
            p.take("by")
            keys = [p.ident()]
            while p.peek(","):
                p.take(",")
                keys.append(p.ident())
            for k in keys:
                if k not in p.columns:
                    raise KqlUnsupported(f"column {k!r} is not in the table's documented schema")
            groups: dict[tuple[Any, ...], int] = {}
            for r in rows:
                key = tuple(r.get(k) for k in keys)
                groups[key] = groups.get(key, 0) + 1
            rows = [{**dict(zip(keys, k, strict=True)), name: n} for k, n in groups.items()]
            p.columns = {*keys, name}
        elif op == "project":
            cols = [p.ident()]
            while p.peek(","):
                p.take(",")
                cols.append(p.ident())
            rows = [{c: r.get(c) for c in cols} for r in rows]
            p.columns = set(cols)
        else:
            raise KqlUnsupported(f"operator {op!r} is not supported")
    if p.i != len(tokens):
        raise KqlUnsupported(f"unexpected {tokens[p.i][1]!r} after the query")
    return rows
