"""The benchmarks' own SQL, in benchmarks/sql/ (not the product's include/sql/): the package's loader over this
root, so the files follow the same layout and slot syntax (``{name}``, a dialect's variant beside its default)."""

from __future__ import annotations

from pathlib import Path

SQL_ROOT = Path(__file__).resolve().parent / "sql"


def render(name: str, **idents: str) -> list[str]:
    """A benchmark statement for MySQL, its identifier slots checked and filled (values stay bound)."""
    from leads_flow.io.sql import render as render_sql

    return render_sql("mysql", name, root=SQL_ROOT, **idents)


def seed_sql(name: str, **slots: str) -> str:
    """A server-side seed statement with its slots filled: the benchmark's own sizes, dates and database names
    (no parameters are bound, so '%' stays as written)."""
    from leads_flow.io.sql import fill, sql_text

    return fill(sql_text("mysql", name, root=SQL_ROOT), **slots)
