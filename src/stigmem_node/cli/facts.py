"""``stigmem facts ...``, ``stigmem recall``, ``stigmem conflicts ...``: memory over HTTP.

These commands talk to a running node through the Python client (``STIGMEM_URL``,
``STIGMEM_API_KEY``, or ``--url``/``--api-key``), never to its database. Output is a
human-readable table, or the node's JSON with ``--json``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import click
import orjson
from pydantic import BaseModel

from stigmem_node.client import Fact, FactValue, StigmemClient, StigmemError
from stigmem_node.client.config import API_KEY_ENV, URL_ENV
from stigmem_node.client.transport import DEFAULT_URL

F = TypeVar("F", bound=Callable[..., Any])

SCOPES = click.Choice(["local", "team", "company", "public"])
TYPES = click.Choice(["string", "text", "number", "boolean", "datetime", "ref", "null"])
FACT_COLUMNS = ("id", "entity", "relation", "value", "confidence", "scope", "source")
VALUE_WIDTH = 48


def connection_options(fn: F) -> F:
    """``--url``, ``--api-key`` and ``--json``, shared by every command here."""
    fn = click.option("--json", "as_json", is_flag=True, help="Print the node's JSON.")(fn)
    fn = click.option("--api-key", envvar=API_KEY_ENV, default=None,
                      help=f"API key (env {API_KEY_ENV}).")(fn)  # fmt: skip
    return click.option("--url", envvar=URL_ENV, default=DEFAULT_URL, show_default=True,
                        help=f"Node base URL (env {URL_ENV}).")(fn)  # fmt: skip


@contextmanager
def connect(url: str, api_key: str | None) -> Iterator[StigmemClient]:
    """A client whose failures exit with the node's message (status 1), not a traceback."""
    try:
        client = StigmemClient(url, api_key)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--url/--api-key") from None
    try:
        with client:
            yield client
    except StigmemError as exc:
        raise click.ClickException(str(exc)) from None


# -- output ----------------------------------------------------------------------------------
def emit_json(data: Any) -> None:
    if isinstance(data, BaseModel):
        data = data.model_dump(mode="json")
    elif isinstance(data, list):
        data = [d.model_dump(mode="json") if isinstance(d, BaseModel) else d for d in data]
    click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())


def cell(value: Any) -> str:
    """One table cell on one line; fact values are cut to VALUE_WIDTH (ids never are)."""
    if isinstance(value, FactValue):
        text = cell(value.v if value.type != "null" else None)
        return text if len(text) <= VALUE_WIDTH else text[: VALUE_WIDTH - 1] + "…"
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    return " ".join(str(value).split())  # one line per row, whatever the value holds


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """Left-aligned columns separated by two spaces, with an upper-case header row."""
    cells = [[cell(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


def fact_row(fact: Fact) -> list[Any]:
    flag = " (contradicted)" if fact.contradicted else ""
    return [fact.id, fact.entity, fact.relation, fact.value,
            f"{fact.confidence:g}{flag}", fact.scope, fact.source]  # fmt: skip


def show_facts(facts: Sequence[Fact]) -> None:
    if not facts:
        click.echo("no facts")
        return
    click.echo(table([fact_row(f) for f in facts], FACT_COLUMNS))


def show_fact(fact: Fact) -> None:
    data = fact.model_dump(mode="json", exclude_none=True)
    data["value"] = f"{fact.value.v!r} ({fact.value.type})"
    rows = [[key, value] for key, value in data.items() if value not in ([], None)]
    click.echo(table(rows, ("field", "value")))


def parse_value(text: str, value_type: str) -> FactValue:
    """The CLI's VALUE argument as a typed value (strings stay strings unless --type says)."""
    if value_type == "number":
        try:
            number: float = int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                raise click.BadParameter(f"{text!r} is not a number", param_hint="VALUE") from None
        return FactValue(type="number", v=number)
    if value_type == "boolean":
        lowered = text.lower()
        if lowered not in ("true", "false"):
            raise click.BadParameter("a boolean is true or false", param_hint="VALUE")
        return FactValue(type="boolean", v=lowered == "true")
    if value_type == "null":
        return FactValue(type="null", v=None)
    return FactValue.of(text, value_type)  # type: ignore[arg-type]


# -- stigmem facts ---------------------------------------------------------------------------
@click.group()
def facts() -> None:
    """Assert, query, fetch and retract facts on a running node."""


@facts.command("assert")
@click.argument("entity")
@click.argument("relation")
@click.argument("value")
@click.option("--type", "value_type", type=TYPES, default="string", show_default=True)
@click.option("--source", default="agent:cli", show_default=True, help="Who asserts it.")
@click.option("--scope", type=SCOPES, default=None, help="Default: the node's (local).")
@click.option("--confidence", type=click.FloatRange(0.0, 1.0), default=None)
@click.option("--valid-until", default=None, help="ISO 8601 expiry.")
@click.option("--garden", "garden_id", default=None, help="Garden URI or slug.")
@connection_options
def facts_assert(
    entity: str, relation: str, value: str, value_type: str, source: str, scope: str | None,
    confidence: float | None, valid_until: str | None, garden_id: str | None,
    url: str, api_key: str | None, as_json: bool,
) -> None:  # fmt: skip
    """Assert ENTITY RELATION VALUE (e.g. user:alice pref:color blue)."""
    typed = parse_value(value, value_type)
    with connect(url, api_key) as client:
        fact = client.assert_fact(
            entity, relation, typed, source, scope=scope, confidence=confidence,
            valid_until=valid_until, garden_id=garden_id,
        )  # fmt: skip
    if as_json:
        emit_json(fact)
    else:
        show_facts([fact])


@facts.command("query")
@click.option("--entity", default=None)
@click.option("--relation", default=None)
@click.option("--source", default=None)
@click.option("--scope", type=SCOPES, default=None)
@click.option("--min-confidence", type=click.FloatRange(0.0, 1.0), default=None)
@click.option("--include-contradicted", is_flag=True, default=None)
@click.option("--include-expired", is_flag=True, default=None)
@click.option("--limit", type=click.IntRange(1, 500), default=None, help="Page size.")
@click.option("--cursor", default=None, help="Continue after a previous page.")
@click.option("--all", "every_page", is_flag=True, help="Follow the cursor to the end.")
@connection_options
def facts_query(
    entity: str | None, relation: str | None, source: str | None, scope: str | None,
    min_confidence: float | None, include_contradicted: bool | None,
    include_expired: bool | None, limit: int | None, cursor: str | None, every_page: bool,
    url: str, api_key: str | None, as_json: bool,
) -> None:  # fmt: skip
    """List facts matching the filters, newest first."""
    filters: dict[str, Any] = {
        "source": source, "scope": scope, "min_confidence": min_confidence,
        "include_contradicted": include_contradicted, "include_expired": include_expired,
        "limit": limit,
    }  # fmt: skip
    with connect(url, api_key) as client:
        if every_page:
            found = list(client.iter_facts(entity, relation, **filters))
            if as_json:
                emit_json({"facts": [f.model_dump(mode="json") for f in found]})
            else:
                show_facts(found)
            return
        page = client.query_facts(entity, relation, cursor=cursor, **filters)
    if as_json:
        emit_json(page)
        return
    show_facts(page.facts)
    if page.cursor:
        click.echo(f"\n{len(page.facts)} of {page.total}; next page: --cursor {page.cursor}")


@facts.command("get")
@click.argument("fact_id")
@connection_options
def facts_get(fact_id: str, url: str, api_key: str | None, as_json: bool) -> None:
    """Show one fact by uuid or sha256: CID."""
    with connect(url, api_key) as client:
        fact = client.get_fact(fact_id)
    if as_json:
        emit_json(fact)
    else:
        show_fact(fact)


@facts.command("retract")
@click.argument("fact_id")
@click.option("--source", default=None, help="Who retracts it (default: the fact's source).")
@connection_options
def facts_retract(
    fact_id: str, source: str | None, url: str, api_key: str | None, as_json: bool
) -> None:
    """Retract a fact: record its content again with confidence 0 (nothing is deleted)."""
    with connect(url, api_key) as client:
        retraction = client.retract(fact_id, source=source)
    if as_json:
        emit_json(retraction)
    else:
        click.echo(f"retracted {fact_id}")
        show_facts([retraction])


# -- stigmem recall --------------------------------------------------------------------------
@click.command("recall")
@click.argument("query")
@click.option("--scope", type=SCOPES, default=None, help="Default: local.")
@click.option("--token-budget", type=click.IntRange(1, 200_000), default=None)
@click.option("--limit", type=click.IntRange(1, 500), default=None)
@connection_options
def recall(
    query: str, scope: str | None, token_budget: int | None, limit: int | None,
    url: str, api_key: str | None, as_json: bool,
) -> None:  # fmt: skip
    """The facts most relevant to QUERY, best first."""
    with connect(url, api_key) as client:
        result = client.recall(query, scope=scope, token_budget=token_budget, limit=limit)
    if as_json:
        emit_json(result)
        return
    if not result.facts:
        click.echo("nothing recalled")
        return
    rows = [[f"{s.score:.3f}", *fact_row(s.fact)] for s in result.facts]
    click.echo(table(rows, ("score", *FACT_COLUMNS)))


# -- stigmem conflicts -----------------------------------------------------------------------
@click.group()
def conflicts() -> None:
    """List and resolve contradictions."""


@conflicts.command("list")
@click.option("--status", type=click.Choice(["unresolved", "resolved"]), default=None)
@click.option("--limit", type=click.IntRange(1, 500), default=None)
@click.option("--cursor", default=None)
@connection_options
def conflicts_list(
    status: str | None, limit: int | None, cursor: str | None,
    url: str, api_key: str | None, as_json: bool,
) -> None:  # fmt: skip
    """Contradicting pairs of facts (default: every status)."""
    with connect(url, api_key) as client:
        page = client.list_conflicts(status, cursor=cursor, limit=limit)
    if as_json:
        emit_json(page)
        return
    if not page.conflicts:
        click.echo("no conflicts")
        return
    rows = [
        [c.conflict_id, c.status, a.entity if a else None, a.relation if a else None,
         a.value if a else None, b.value if b else None]
        for c in page.conflicts
        for a, b in [(c.fact_a, c.fact_b)]
    ]  # fmt: skip
    click.echo(table(rows, ("conflict", "status", "entity", "relation", "value a", "value b")))
    if page.has_more:
        click.echo(f"\nmore: --cursor {page.cursor}")


@conflicts.command("resolve")
@click.argument("conflict_id")
@click.option("--winner", "winning_fact_id", default=None, help="Id of the fact that is right.")
@click.option("--value", "new_value", default=None, help="The right value instead.")
@click.option("--type", "value_type", type=TYPES, default="string", show_default=True)
@connection_options
def conflicts_resolve(
    conflict_id: str, winning_fact_id: str | None, new_value: str | None, value_type: str,
    url: str, api_key: str | None, as_json: bool,
) -> None:  # fmt: skip
    """Resolve CONFLICT_ID with --winner FACT_ID or --value VALUE."""
    if (winning_fact_id is None) == (new_value is None):
        raise click.UsageError("give exactly one of --winner or --value")
    typed = parse_value(new_value, value_type) if new_value is not None else None
    with connect(url, api_key) as client:
        done = client.resolve_conflict(
            conflict_id, winning_fact_id=winning_fact_id, new_value=typed
        )
    if as_json:
        emit_json(done)
    else:
        click.echo(f"{conflict_id}: {done.conflict_status} (fact {done.resolution_fact_id})")


COMMANDS = (facts, recall, conflicts)
