"""Fixtures shared by the DAG tests: the DagBag and Airflow's metadata database."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.fixture(scope="session")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag()


@pytest.fixture(scope="session")
def airflow_db():
    """Airflow's metadata database (SQLite under the test AIRFLOW_HOME), migrated once."""
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
