"""Briefing variants: one definition rendered once per value of a parameter (a country, a
region, a programme). Resolves which values are allowed, checks the values asked for, and
fills a definition's {placeholders} in, giving the definition of one variant.

A variant is an ordinary `BriefingDefinition` whose `variant` names its values, so
`render.render_briefing` renders it like any briefing, into its own folder and run.

Where the values come from: a definition lists them (`values = ["KAZ", "UZB"]`) or names
one query of a small fixed vocabulary (`values_query = "countries with data"`, see
`VALUE_QUERIES`). A definition file never holds SQL: the queries are named constants here,
with bound parameters, run on a read-only connection.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from tracker import definitions, store
from tracker.errors import InputError
from tracker.models import (
    PARAM_VALUE_QUERIES,
    BriefingDefinition,
    BriefingParam,
    NameReference,
    SectionSpec,
    SeriesChartSpec,
)
from tracker.text import did_you_mean

# Ids with current data ($1: the briefing's indicators, as the data stood at $2).
_WITH_DATA = """
with_data AS (
    SELECT DISTINCT {column} AS id FROM observations_as_of($2)
    WHERE list_contains($1, indicator)
)"""
_GEOGRAPHY_ORDER = "ORDER BY CASE g.kind WHEN 'world' THEN 0 WHEN 'region' THEN 1 ELSE 2 END, g.id"
GEOGRAPHIES_WITH_DATA = f"""
WITH {_WITH_DATA.format(column="geography")}
SELECT g.id FROM geographies AS g SEMI JOIN with_data AS d ON d.id = g.id
{_GEOGRAPHY_ORDER}
"""
COUNTRIES_WITH_DATA = f"""
WITH {_WITH_DATA.format(column="geography")}
SELECT g.id FROM geographies AS g SEMI JOIN with_data AS d ON d.id = g.id
WHERE g.kind = 'country' ORDER BY g.id
"""
REGIONS_WITH_DATA = f"""
WITH {_WITH_DATA.format(column="geography")}
SELECT g.id FROM geographies AS g SEMI JOIN with_data AS d ON d.id = g.id
WHERE g.kind = 'region' ORDER BY g.id
"""
# A country with figures of its own, or a member of a region with figures: its profile
# then shows the region's figures as context.
COUNTRIES_WITH_DATA_OR_IN_A_REGION_WITH_DATA = f"""
WITH {_WITH_DATA.format(column="geography")}
SELECT g.id FROM geographies AS g
WHERE g.kind = 'country'
  AND (g.id IN (SELECT id FROM with_data)
       OR g.id IN (SELECT m.member FROM geography_members AS m
                   JOIN with_data AS d ON d.id = m.region
                   JOIN geographies AS r ON r.id = m.region AND r.kind = 'region'))
ORDER BY g.id
"""
# These three take no parameters: every id of the reference table.
COUNTRIES = "SELECT id FROM geographies WHERE kind = 'country' ORDER BY id"
REGIONS = "SELECT id FROM geographies WHERE kind = 'region' ORDER BY id"
INITIATIVES_WITH_DATA = f"""
WITH {_WITH_DATA.format(column="initiative")}
SELECT i.id FROM initiatives AS i SEMI JOIN with_data AS d ON d.id = i.id
WHERE i.id <> 'CONTEXT' ORDER BY i.id
"""
# CONTEXT holds figures of no programme: never a programme's variant.
INITIATIVES = "SELECT id FROM initiatives WHERE id <> 'CONTEXT' ORDER BY id"

VALUE_QUERIES: dict[tuple[str, str], str] = {
    ("geography", "geographies with data"): GEOGRAPHIES_WITH_DATA,
    ("geography", "countries with data"): COUNTRIES_WITH_DATA,
    ("geography", "regions with data"): REGIONS_WITH_DATA,
    ("geography", "countries with data or in a region with data"):
        COUNTRIES_WITH_DATA_OR_IN_A_REGION_WITH_DATA,
    ("geography", "countries"): COUNTRIES,
    ("geography", "regions"): REGIONS,
    ("initiative", "initiatives with data"): INITIATIVES_WITH_DATA,
    ("initiative", "initiatives"): INITIATIVES,
}  # fmt: skip
assert set(VALUE_QUERIES) == {(n, q) for n, qs in PARAM_VALUE_QUERIES.items() for q in qs}

# What a placeholder is replaced by: the name, the id, the regions a geography belongs to
# (smallest first: central-asia before asia). Regions only: an aggregate such as the least
# developed countries or a World Bank income group is not where a country is.
GEOGRAPHY_FACTS = """
WITH sizes AS (SELECT region, count(*) AS members FROM geography_members GROUP BY region),
     regional AS (SELECT m.* FROM geography_members AS m
                  JOIN geographies AS r ON r.id = m.region AND r.kind = 'region')
SELECT g.id, g.name,
       list(m.region ORDER BY s.members, m.region) FILTER (WHERE m.region IS NOT NULL)
           AS regions,
       list(r.name ORDER BY s.members, m.region) FILTER (WHERE m.region IS NOT NULL)
           AS region_names
FROM geographies AS g
LEFT JOIN regional AS m ON m.member = g.id
LEFT JOIN sizes AS s ON s.region = m.region
LEFT JOIN geographies AS r ON r.id = m.region
WHERE list_contains($1, g.id)
GROUP BY g.id, g.name
"""
INITIATIVE_FACTS = """
SELECT id, name, [] AS regions, [] AS region_names FROM initiatives WHERE list_contains($1, id)
"""
_PLACEHOLDER = re.compile(r"\{([a-z_]+)(\.[a-z_]+)?\}")
SHOWN_VALUES = 20  # an error message lists at most this many allowed values


@dataclass(frozen=True)
class Facts:
    """What placeholders of one value say: its id, name and (for a geography) regions."""

    id: str
    name: str
    regions: tuple[str, ...] = ()
    region_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScheduledVariant:
    """One variant the scheduler renders: its definition, the `tracker brief` arguments
    that render it, and who gets it (the schedule's recipients and its own)."""

    definition: BriefingDefinition
    arguments: tuple[str, ...]  # e.g. ('country-profile', '--param', 'geography=KAZ')
    recipients: tuple[str, ...]


# --- public entry points -----------------------------------------------------------------


def parse_param_arguments(definition: BriefingDefinition, given: Sequence[str]) -> dict[str, str]:
    """`--param NAME=VALUE` options -> {name: value}; refuses unknown names, a repeated
    name and values holding a path or NUL, naming the definition file and key."""
    values: dict[str, str] = {}
    for text in given:
        name, equals, value = text.partition("=")
        name = name.strip()
        if not equals or not name:
            raise InputError(
                f"--param: found '{text}', expected NAME=VALUE, e.g. --param geography=KAZ."
            )
        param_of(definition, name)
        if name in values:
            raise InputError(f"--param: '{name}' is given twice; give each parameter once.")
        values[name] = definitions.check_param_value(
            value.strip(), f"{definition.path}: key 'params.{name}'"
        )
    return values


def param_of(definition: BriefingDefinition, name: str) -> BriefingParam:
    """The parameter `name` of `definition`; InputError naming the file and key if none."""
    for param in definition.params:
        if param.name == name:
            return param
    declared = [param.name for param in definition.params]
    hint = did_you_mean(name, declared)
    has = f"it declares {', '.join(declared)}" if declared else "it declares none"
    raise InputError(
        f"{definition.path}: key 'params': no parameter '{name}' ({has}).{hint} "
        "Nothing was rendered."
    )


def allowed_values(
    conn: store.Connection, definition: BriefingDefinition, param: BriefingParam, cutoff: datetime
) -> tuple[str, ...]:
    """The values `--each` renders, in order: as listed, or what `values_query` finds.
    A value found by the query that could not name a file is refused."""
    if param.values_query is None:
        return param.values
    sql = VALUE_QUERIES[(param.name, param.values_query)]
    bound = [list(definition.indicators), cutoff] if "$1" in sql else None
    found = store.query(conn, sql, bound)["id"].to_list()
    key = f"{definition.path}: key 'params.{param.name}.values_query' ('{param.values_query}')"
    return tuple(definitions.check_param_value(str(v), key) for v in found)


def resolve(
    conn: store.Connection,
    definition: BriefingDefinition,
    given: Mapping[str, str] | None = None,
    *,
    each: Sequence[str] = (),
    cutoff: datetime | None = None,
) -> list[BriefingDefinition]:
    """The definitions of the variants asked for, checked before anything is rendered.

    `given` fixes parameters (`--param`); `each` names parameters rendered once per allowed
    value (`--each`; two names give every combination); every other parameter takes its
    default. A definition without parameters is returned as it is.
    """
    given = dict(given or {})
    moment = cutoff or store.utc_now()
    for name in [*given, *each]:
        param_of(definition, name)
    for name in each:
        if name in given:
            raise InputError(
                f"--each {name} and --param {name}=... both given; give one of the two."
            )
    if not definition.params:
        return [definition]
    chosen: list[dict[str, str]] = [{}]
    for param in definition.params:
        allowed = allowed_values(conn, definition, param, moment)
        if param.name in each:
            if not allowed:
                raise InputError(
                    f"{definition.path}: key 'params.{param.name}': --each {param.name} "
                    f"found no value ({_source(param)}). Nothing was rendered."
                )
            chosen = [{**c, param.name: value} for c in chosen for value in allowed]
            continue
        value = given.get(param.name, param.default)
        if value not in allowed and value != param.default:
            raise InputError(_not_allowed(definition, param, value, allowed))
        chosen = [{**c, param.name: value} for c in chosen]
    facts = _facts(conn, definition, chosen)
    return [apply(definition, values, facts) for values in chosen]


def with_defaults(
    conn: store.Connection, found: Sequence[BriefingDefinition]
) -> list[BriefingDefinition]:
    """Each definition as rendered when no value is asked for: a briefing with parameters
    becomes its default variant, any other stays as it is."""
    return [resolve(conn, d)[0] if d.params and not d.variant else d for d in found]


def scheduled_variants(
    conn: store.Connection, definition: BriefingDefinition
) -> list[ScheduledVariant]:
    """The variants a schedule renders: every value of a parameter with on_schedule =
    'each', the default of the others; each with its recipients (the schedule's, then
    its own from `[params.<name>.recipients]`). A briefing without parameters is one."""
    every = [p.name for p in definition.params if p.on_schedule == "each"]
    base = definition.schedule.recipients if definition.schedule else ()
    if not definition.params:
        return [ScheduledVariant(definition, (definition.name,), base)]
    scheduled = []
    for variant in resolve(conn, definition, each=every):
        values = dict(variant.variant)
        own = [a for p in definition.params for v, addresses in p.recipients
               if values.get(p.name) == v for a in addresses]  # fmt: skip
        arguments = [definition.name]
        for name, value in variant.variant:
            arguments += ["--param", f"{name}={value}"]
        scheduled.append(
            ScheduledVariant(variant, tuple(arguments), tuple(dict.fromkeys([*base, *own])))
        )
    return scheduled


def describe(definition: BriefingDefinition) -> str:
    """The parameters in a line: "geography (default KAZ; values_query 'countries')"."""
    return "; ".join(f"{p.name} (default {p.default}; {_source(p)})" for p in definition.params)


# --- placeholders ---------------------------------------------------------------------------


def apply(
    definition: BriefingDefinition, values: Mapping[str, str], facts: Mapping[str, Facts]
) -> BriefingDefinition:
    """The definition of one variant: each {placeholder} replaced, `variant` set.

    In texts {geography} is the name (Kazakhstan), {geography.id} the id and
    {geography.regions} the regions' names; in name lists "{geography}" is the id and
    "{geography.regions}" the ids of the regions it belongs to.
    """

    def fact(name: str) -> Facts:
        return facts[f"{name}:{values[name]}"]

    def text(value: str) -> str:
        def one(match: re.Match[str]) -> str:
            found = fact(match.group(1))
            form = match.group(2) or ""
            if form == ".id":
                return found.id
            if form == ".regions":
                return ", ".join(found.region_names) or "no region"
            return found.name

        return _PLACEHOLDER.sub(one, value)

    def names(items: tuple[str, ...]) -> tuple[str, ...]:
        out: list[str] = []
        for item in items:
            match = _PLACEHOLDER.fullmatch(item)
            if match is None:
                out.append(item)
            elif match.group(2) == ".regions":
                out.extend(fact(match.group(1)).regions)
            else:
                out.append(fact(match.group(1)).id)
        return tuple(dict.fromkeys(out))

    def chart(spec: SeriesChartSpec) -> SeriesChartSpec:
        return replace(spec, title=text(spec.title), initiatives=names(spec.initiatives),
                       geographies=names(spec.geographies))  # fmt: skip

    def section(spec: SectionSpec) -> SectionSpec:
        return replace(
            spec,
            title=text(spec.title),
            intro=text(spec.intro) if spec.intro is not None else None,
            initiatives=names(spec.initiatives),
            geographies=names(spec.geographies),
            charts=tuple(chart(c) for c in spec.charts),
        )

    references = [
        NameReference(name, value, f"params.{name}") for name, value in sorted(values.items())
    ]
    return replace(
        definition,
        title=text(definition.title),
        audience=text(definition.audience),
        sections=tuple(section(s) for s in definition.sections),
        references=(*definition.references, *references),
        variant=tuple(sorted(values.items())),
    )


def _facts(
    conn: store.Connection, definition: BriefingDefinition, chosen: Sequence[Mapping[str, str]]
) -> dict[str, Facts]:
    """Name (and regions) of every value chosen, read in one query per parameter. A value
    the store does not know is refused (file, key, close match)."""
    facts: dict[str, Facts] = {}
    for param in definition.params:
        wanted = sorted({c[param.name] for c in chosen})
        sql = GEOGRAPHY_FACTS if param.name == "geography" else INITIATIVE_FACTS
        for row in store.query(conn, sql, [wanted]).iter_rows(named=True):
            facts[f"{param.name}:{row['id']}"] = Facts(
                row["id"], row["name"], tuple(row["regions"] or ()),
                tuple(row["region_names"] or ()),
            )  # fmt: skip
        for value in wanted:
            if f"{param.name}:{value}" not in facts:
                table = "geographies" if param.name == "geography" else "initiatives"
                known = store.query(conn, f"SELECT id FROM {table} ORDER BY id")["id"].to_list()
                hint = did_you_mean(value, known)
                raise InputError(
                    f"{definition.path}: key 'params.{param.name}': found '{value}', "
                    f"expected a {param.name} id from data/reference/{table}.csv.{hint} "
                    "Nothing was rendered."
                )
    return facts


def _source(param: BriefingParam) -> str:
    if param.values_query is not None:
        return f"values_query '{param.values_query}'"
    return f"values {', '.join(param.values)}"


def _not_allowed(
    definition: BriefingDefinition, param: BriefingParam, value: str, allowed: Sequence[str]
) -> str:
    listed = [param.default, *[v for v in allowed if v != param.default]]
    shown = ", ".join(listed[:SHOWN_VALUES])
    more = f", ... ({len(listed)} in all)" if len(listed) > SHOWN_VALUES else ""
    hint = did_you_mean(value, listed)
    return (
        f"{definition.path}: key 'params.{param.name}': found '{value}', expected one of "
        f"{shown}{more} (the default and the {_source(param)}).{hint} Nothing was rendered."
    )
