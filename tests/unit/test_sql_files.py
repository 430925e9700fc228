"""The SQL files: laid out by step (a dialect's variant beside its default), each one used, each name asked for
present, one slot syntax."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from leads_flow.config import SQL_DIR
from leads_flow.io.sql import DIALECTS, render, sql_index, sql_text

ROOT = Path(__file__).resolve().parents[2]
BENCH_SQL = ROOT / "benchmarks" / "sql"
ROOTS = (SQL_DIR, BENCH_SQL)
PYTHON = [  # this file aside: its names must not count as uses
    p
    for d in ("plugins", "dags", "benchmarks", "tests", "scripts", "devkit")
    for p in (ROOT / d).rglob("*.py")
    if p != Path(__file__).resolve()
]
SQL_FILES = sorted(p for r in ROOTS for p in r.rglob("*.sql"))

_CALLS = (
    # Db.run / query / executemany / stream / sql, with the name first, on a Db (db, flow, legacy, flow_db, ...)
    re.compile(
        r"(?<![\w.])(?:self\.)?(?:db|flow|legacy|\w+_db)\w*\.(?:run|query|executemany|stream|sql)\(\s*\"([a-z_][a-z0-9_]*)\""
    ),
    # leads_flow.io.sql.render / sql_text / sql_path (dialect, name, ...)
    re.compile(r"\b(?:render|sql_text|sql_path)\(\s*[^,()\"]+,\s*\"([a-z_][a-z0-9_]*)\""),
    re.compile(r"\b(?:render|sql_text|sql_path)\(\s*\"(?:mysql|sqlite)\",\s*\"([a-z_][a-z0-9_]*)\""),
    # the benchmarks' loader (benchmarks/bench_sql.py): render(name, ...), seed_sql(name, ...)
    re.compile(r"\b(?:render|seed_sql)\(\s*\"([a-z_][a-z0-9_]*)\""),
)
_SLOT = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


def _python_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in PYTHON)


def _names() -> set[str]:
    return {n for r in ROOTS for n in sql_index(r)}


def test_the_files_are_laid_out_by_step_with_variants_beside_their_default():
    for root in ROOTS:
        index = sql_index(root)  # raises on a duplicate name or a variant without its default
        assert index, root
        for name, files in index.items():
            assert files[None].name == f"{name}.sql"
            assert set(files) <= {None, *DIALECTS}, name
            for dialect, path in files.items():
                assert path.parent == files[None].parent, (name, dialect)
                if dialect:
                    assert path.name == f"{name}.{dialect}.sql"
    for path in SQL_DIR.iterdir():
        assert path.is_dir(), f"{path.name}: SQL files sit in a step's folder"
    assert not {"common", *DIALECTS} & {p.name for p in SQL_DIR.iterdir()}, "folders are steps, not dialects"
    assert not set(sql_index(SQL_DIR)) & set(sql_index(BENCH_SQL)), "a benchmark statement shadows a product one"


def test_a_name_twice_or_a_variant_without_its_default_is_an_error(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "x.sql").write_text("SELECT 1\n", encoding="utf-8")
    (tmp_path / "b" / "x.sql").write_text("SELECT 2\n", encoding="utf-8")
    with pytest.raises(ValueError, match="twice"):
        sql_index(tmp_path)
    (tmp_path / "b" / "x.sql").unlink()
    (tmp_path / "b" / "y.sqlite.sql").write_text("SELECT 3\n", encoding="utf-8")
    with pytest.raises(ValueError, match="without its default"):
        sql_index(tmp_path / "b")
    (tmp_path / "a" / "x.oracle.sql").write_text("SELECT 4 FROM dual\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no dialect"):
        sql_index(tmp_path / "a")


def test_a_variant_is_read_on_its_dialect_and_a_fragment_fills_its_slot(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "head.sql").write_text("-- a fragment\nINSERT INTO {table} (a)\n", encoding="utf-8")
    (tmp_path / "s" / "w.sql").write_text("-- the default\n{head}\nVALUES (:a)\n", encoding="utf-8")
    (tmp_path / "s" / "w.sqlite.sql").write_text("{head}\nVALUES (:a) ON CONFLICT DO NOTHING\n", encoding="utf-8")
    assert render("mysql", "w", root=tmp_path, table="t") == ["INSERT INTO t (a)\nVALUES (%(a)s)"]
    assert render("sqlite", "w", root=tmp_path, table="t") == ["INSERT INTO t (a)\nVALUES (:a) ON CONFLICT DO NOTHING"]
    assert sql_text("mysql", "w", root=tmp_path) == "INSERT INTO {table} (a)\nVALUES (:a)"


def test_every_sql_file_is_used():
    python = _python_text()
    quoted = set(re.findall(r"[\"']([a-z_][a-z0-9_]*)[\"']", python))
    slots = {m for p in SQL_FILES for m in _SLOT.findall(p.read_text(encoding="utf-8"))}
    unused = sorted(n for n in _names() if n not in quoted and n not in slots)
    assert not unused, f"SQL files no code names: {unused}"


def test_every_name_the_code_asks_for_exists():
    python = _python_text()
    asked = {m for rx in _CALLS for m in rx.findall(python)} - set(DIALECTS)
    assert {"stage_drop", "publish", "gate_audit", "bench_floor", "rekey_bench_seed"} <= asked  # the regexes see
    missing = sorted(asked - _names())
    assert not missing, f"names passed to run/query/executemany/stream/sql/render without a SQL file: {missing}"


def test_one_slot_syntax():
    for path in SQL_FILES:
        text = path.read_text(encoding="utf-8")
        assert "-- include:" not in text, path
        assert not re.search(r"%\([a-z_]+\)s|\{\{|\$\{", text), f"{path}: only {{name}} slots and :name binds"


def test_a_slot_named_after_a_file_is_a_fragment_and_no_fragment_is_run_by_itself():
    names = _names()
    fragments = {m for p in SQL_FILES for m in _SLOT.findall(p.read_text(encoding="utf-8")) if m in names}
    assert {"insert_flow_columns", "upsert_newer_wins"} <= fragments
    asked = {m for rx in _CALLS for m in rx.findall(_python_text())}
    for name in fragments:
        files = [f for r in ROOTS for f in sql_index(r).get(name, {}).values()]
        assert all(f.read_text(encoding="utf-8").startswith("-- Fragment") for f in files), name
        assert name not in asked, f"{name} is a fragment, never a statement"
