"""SQL files of ``include/sql/`` and their one slot syntax: loading, filling, rendering for a driver.

Every statement is written with ``:name`` (or ``?`` for executemany) placeholders; :func:`render` turns them
into the driver's style. Identifiers are filled in only after :func:`leads_flow.config.ident` accepted them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from typing import Literal

from leads_flow.config import SQL_DIR, ident

Dialect = Literal["mysql", "sqlite"]


def sql_text(dialect: Dialect, name: str) -> str:
    """The raw text of a SQL file without its comment lines (for SQL handed to other tools, e.g. GX)."""
    return _strip_comments(_sql_text(dialect, name)).strip()


_INCLUDE = re.compile(r"^-- include: ([a-z_][a-z0-9_]*)$", re.MULTILINE)


@cache
def _sql_text(dialect: Dialect, name: str) -> str:
    """A SQL file's text; a line ``-- include: other`` stands for the text of ``other.sql`` (same lookup)."""
    for folder in (dialect, "common"):
        path = SQL_DIR / folder / f"{name}.sql"
        if path.exists():
            text = path.read_text(encoding="utf-8")
            return _INCLUDE.sub(lambda m: _sql_text(dialect, m.group(1)).rstrip("\n"), text)
    raise FileNotFoundError(f"no SQL named {name!r} for {dialect}")


_NAMED = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")


def _strip_comments(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))


_SLOT = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
"""The one substitution syntax of include/sql: ``{name}`` (a regex quantifier such as ``{9}`` is no slot)."""
_SQL_LISTS = ("columns", "placeholders", "ids")  # built by the package from its own column lists and ints


def fill(text: str, **slots: str) -> str:
    """Fill every ``{name}`` slot of ``text``; a slot without a value is an error, never left in the SQL."""

    def value(m: re.Match[str]) -> str:
        if m.group(1) not in slots:
            raise KeyError(f"SQL slot {{{m.group(1)}}} has no value")
        return slots[m.group(1)]

    return _SLOT.sub(value, text)


@cache
def _column_slots() -> dict[str, str]:
    """Column lists every statement may use, derived from the field rules (never written out by hand)."""
    from leads_flow.rules.fields import STAGE_COLUMNS

    return {"flow_columns": ", ".join(STAGE_COLUMNS), "flow_values": ", ".join(f":{c}" for c in STAGE_COLUMNS)}


def render(dialect: Dialect, name: str, **idents: str) -> list[str]:
    """The statements of ``include/sql/.../name.sql`` in the driver's placeholder style.

    Slots hold identifiers (checked by :func:`ident`) or the package's own lists (``columns``, ``ids``,
    ``placeholders``); values are always bound (``:name``), never filled in.
    """
    fmt = {**_column_slots(), **{k: (v if k in _SQL_LISTS else ident(v)) for k, v in idents.items()}}
    text = fill(_strip_comments(_sql_text(dialect, name)), **fmt)
    if dialect == "mysql":
        text = text.replace("%", "%%")
        text = _NAMED.sub(r"%(\1)s", text).replace("?", "%s")
    return [s.strip().rstrip(";") for s in text.split(";\n") if s.strip()]


def id_list(ids: Iterable[int]) -> str:
    """The ``{ids}`` slot of an ``IN ({ids})`` list: integers only, formatted by the package itself."""
    return ", ".join(str(int(i)) for i in ids)
