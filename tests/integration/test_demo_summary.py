"""`make demo`'s summary (scripts/demo.py) as a person reads it: tables with headers, no log line or warning
between them, and numbers that add up on screen (seeded, extracted with the overlap, rejected, published)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = [pytest.mark.slow]


def _num(text: str) -> int:
    return int(text.replace(",", ""))


def test_demo_summary_is_a_table_whose_numbers_add_up(tmp_path):
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_")) and k != "AIRFLOW_HOME"
    }
    env.update(LEADS_DEMO_DIR=str(tmp_path / "demo"), PYTHONPATH=f"{ROOT / 'plugins'}{os.pathsep}{ROOT}")
    res = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py")],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert not re.search(r"warning|deprecat|skipping masking|INFO|Traceback", out, re.IGNORECASE), out
    assert not re.search(r"\b1[3-9]\d{9}\b", out)  # no phone in plain text
    assert "day         status     extracted  of which overlap  staged  rejected  coerced  published  gate" in out
    total = re.search(r"^  total\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)$", out, re.M)
    extracted, overlap, staged, rejected, _coerced, published = (_num(g) for g in total.groups())
    seeded = _num(re.search(r"seeded legacy leads\s+([\d,]+)", out).group(1))
    flow = _num(re.search(r"leads in leads_flow\s+([\d,]+)", out).group(1))
    reasons = re.search(r"rejected leads by reasons.*?\n(.*?)\n\n", out, re.S).group(1).splitlines()
    counts = [_num(line.split()[-1]) for line in reasons[2:-1]]
    reject_leads = _num(reasons[-1].split()[-1])
    assert seeded == 3000 and extracted == seeded + overlap and staged + rejected == extracted
    assert sum(counts) == reject_leads and flow == seeded - reject_leads == published
    assert f"{flow:,} rows, content fingerprint" in out and "(does not add up" not in out
