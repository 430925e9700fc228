"""SQL files of ``include/sql/`` and their one slot syntax: finding, filling, rendering for a driver.

Layout: one folder per step (``extract/``, ``stage/``, ``gate/``, ``publish/``, ...). ``<step>/<name>.sql`` is a
statement's default text; ``<step>/<name>.<dialect>.sql`` beside it is that dialect's variant, read instead of
the default on that dialect. Callers name statements by ``<name>`` alone: names are unique over the tree.

Every statement is written with ``:name`` (or ``?`` for executemany) placeholders; :func:`render` turns them
into the driver's style. Everything else is one slot syntax, ``{name}``:

- a slot named after another SQL file (a fragment, such as ``publish/upsert_newer_wins.sql``) stands for that
  file's text, comment lines left out, in the same dialect;
- any other slot holds an identifier, filled in only after :func:`leads_flow.config.ident` accepted it, or one
  of the package's own lists (``columns``, ``placeholders``, ``ids``). Values are always bound, never filled.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Literal, get_args

from leads_flow.config import SQL_DIR, ident

Dialect = Literal["mysql", "sqlite"]
DIALECTS: tuple[str, ...] = get_args(Dialect)


@cache
def sql_index(root: Path = SQL_DIR) -> dict[str, dict[str | None, Path]]:
    """Every statement under ``root``: name → {None: default file, dialect: variant file}.

    Read once per root. A name found twice (in two folders, or twice for one dialect), a variant for a
    dialect the package does not know, or a variant without its default is an error here, not at first use.
    """
    index: dict[str, dict[str | None, Path]] = {}
    for path in sorted(root.rglob("*.sql")):
        name, _, dialect = path.name.removesuffix(".sql").partition(".")
        if dialect and dialect not in DIALECTS:
            raise ValueError(f"{path}: {dialect!r} is no dialect ({', '.join(DIALECTS)})")
        files = index.setdefault(name, {})
        key = dialect or None
        if key in files:
            raise ValueError(f"SQL named {name!r} twice: {files[key]} and {path}")
        files[key] = path
    for name, files in index.items():
        if None not in files:
            raise ValueError(f"{name}: a dialect variant without its default {name}.sql ({sorted(map(str, files))})")
        if len({p.parent for p in files.values()}) > 1:
            raise ValueError(f"{name}: the variant does not sit beside its default ({sorted(map(str, files))})")
    return index


def sql_path(dialect: Dialect, name: str, root: Path = SQL_DIR) -> Path:
    """The file a dialect reads for ``name``: its variant if there is one, else the default."""
    files = sql_index(root).get(name)
    if files is None:
        raise FileNotFoundError(f"no SQL named {name!r} under {root}")
    return files.get(dialect, files[None])


def sql_text(dialect: Dialect, name: str, root: Path = SQL_DIR) -> str:
    """The text of a statement without its comment lines, fragments filled in (no other slot filled)."""
    return _sql_text(dialect, name, root).strip()


_SLOT = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
"""The one substitution syntax of include/sql: ``{name}`` (a regex quantifier such as ``{9}`` is no slot)."""


@cache
def _sql_text(dialect: Dialect, name: str, root: Path) -> str:
    """A statement's text without comment lines, each slot that names another SQL file replaced by its text."""
    index = sql_index(root)
    text = _strip_comments(sql_path(dialect, name, root).read_text(encoding="utf-8"))

    def fragment(m: re.Match[str]) -> str:
        if m.group(1) not in index:
            return m.group(0)  # an identifier or list slot: filled by render
        if m.group(1) == name:
            raise ValueError(f"SQL {name!r} fills a slot with itself")
        return _sql_text(dialect, m.group(1), root).strip("\n")

    return _SLOT.sub(fragment, text)


_NAMED = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")
_LITERAL = re.compile(r"'(?:[^'\\]|\\.|'')*'|[^']+|'", re.DOTALL)
"""A quoted string (its ``?`` and ``:x`` are text, as in a regex), or the SQL between two."""


def _mysql_placeholders(m: re.Match[str]) -> str:
    part = m.group(0)
    if part.startswith("'"):
        return part
    return _NAMED.sub(r"%(\1)s", part).replace("?", "%s")


def _strip_comments(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))


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

    return {
        "flow_columns": ", ".join(STAGE_COLUMNS),
        "flow_values": ", ".join(f":{c}" for c in STAGE_COLUMNS),
        "flow_table": "leads_flow",  # the table the newer-wins upsert writes; the bulk publish names its shadow
    }


def render(dialect: Dialect, name: str, *, root: Path = SQL_DIR, **idents: str) -> list[str]:
    """The statements of the SQL file ``name`` in the driver's placeholder style.

    Slots hold fragments (other SQL files), identifiers (checked by :func:`ident`) or the package's own lists
    (``columns``, ``ids``, ``placeholders``); values are always bound (``:name``), never filled in. ``root`` is
    another tree of SQL files laid out the same way (the benchmarks' own).
    """
    fmt = {**_column_slots(), **{k: (v if k in _SQL_LISTS else ident(v)) for k, v in idents.items()}}
    text = fill(_sql_text(dialect, name, root), **fmt)
    if dialect == "mysql":
        text = _LITERAL.sub(_mysql_placeholders, text.replace("%", "%%"))
    return [s.strip().rstrip(";") for s in text.split(";\n") if s.strip()]


def id_list(ids: Iterable[int]) -> str:
    """The ``{ids}`` slot of an ``IN ({ids})`` list: integers only, formatted by the package itself."""
    return ", ".join(str(int(i)) for i in ids)
