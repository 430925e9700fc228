"""Export MySQL's text of every statement of include/sql to OUT/sql/NAME.sql: the Java repository's class path.

include/sql is laid out by step with dialect variants beside their defaults (plugins/leads_flow/io/sql.py); Java
runs MySQL's statements and finds them by name, so the build puts each one under its name, the variant if there is
one. Fragments (a {slot} naming another file) are exported too and filled in by java/src/leadsflow/SqlFiles.java.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "plugins"))

from leads_flow.io.sql import sql_index, sql_path  # noqa: E402


def main(out: str) -> None:
    target = Path(out) / "sql"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for name in sql_index():
        shutil.copyfile(sql_path("mysql", name), target / f"{name}.sql")


if __name__ == "__main__":
    main(sys.argv[1])
