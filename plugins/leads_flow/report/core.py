"""The run report: HTML pages and a JSON API over ``leads_flow_run``, for people who live in the Airflow UI.

The api-server mounts the app at ``/leads-flow`` (plugin: ``plugins/leads_flow_report.py``)::

    GET /leads-flow/                              recent partition runs, newest first (?status=&limit=)
    GET /leads-flow/runs/{etl_run_id}             one partition run: window, counts, rejects by reason
                                                  (SVG bar chart), every data-quality expectation, timings, error
    GET /leads-flow/dag-runs/{dag_id}/{run_id}    the partitions of one DAG run (the DAG run's "Leads flow" tab)
    GET /leads-flow/api/runs                      the list as JSON (same filters)
    GET /leads-flow/api/runs/{etl_run_id}         one run as JSON

Only the runs of this project's DAGs (:data:`SYNC_DAG_ID`, ``leads_flow.reconcile.core.DAG_ID``) are shown or
served; a run of any other DAG, or of none, is 404. Access is checked per DAG: a page or API answer about a
run (or a DAG run) needs read access to that DAG's runs (else 403), and the lists contain only the runs of
the DAGs the user may read (403 when that is none). In the api-server the check is Airflow's auth manager
(:func:`airflow_readable_dags`); :func:`create_app` without ``readable_dags`` (tests, local use) reads all.

Read-only; SQL in ``include/sql/common/report_*.sql``, through :func:`leads_flow.io.db.connected`. Run ids
come from users, so every value is escaped (Jinja autoescape; URLs percent-encoded), and every string
shown or returned passes :func:`leads_flow.rules.redact.redact` (phones masked) although the audit tables hold
none. The pages use no JavaScript and load nothing from elsewhere; a Content-Security-Policy says so.
"""

# No `from __future__ import annotations`: FastAPI reads the route annotations inside create_app().
import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from markupsafe import Markup

from leads_flow.config import FLOW_CONN_ID, REPORT_PREFIX
from leads_flow.rules.redact import redact, redact_all  # noqa: F401 - re-exported

log = logging.getLogger(__name__)

SYNC_DAG_ID = "leads_flow_sync"


def project_dag_ids() -> tuple[str, ...]:
    """The DAGs whose runs the report shows (imported late: reconcile is heavy for every plugin import)."""
    from leads_flow.reconcile.core import DAG_ID as RECONCILE_DAG_ID

    return SYNC_DAG_ID, RECONCILE_DAG_ID


DEFAULT_LIMIT, MAX_LIMIT = 50, 500
REJECT_SAMPLE = 100

LIST_COLUMNS = (
    "etl_run_id",
    "dag_id",
    "dag_run_id",
    "partition_start",
    "partition_end",
    "window_start",
    "window_end",
    "status",
    "extracted",
    "staged",
    "rejected",
    "coerced",
    "published",
    "gate_success",
    "gate_failed_checks",
    "error",
    "started_at",
    "finished_at",
)
RUN_COLUMNS = LIST_COLUMNS + ("rejects_by_reason", "gate_results", "timings")
DATETIME_COLUMNS = ("partition_start", "partition_end", "window_start", "window_end", "started_at", "finished_at")

# status -> (label, badge colour, what it means)
STATUSES: dict[str, tuple[str, str, str]] = {
    "staging": ("staging", "run", "extracting and staging (or the stage task died: see the task log)"),
    "staged": ("staged", "run", "staged, waiting for the data-quality gate"),
    "gated": ("gate passed", "run", "gate passed, waiting for publish"),
    "published": ("published", "ok", "published to leads_flow"),
    "dry_run": ("dry run", "info", "gate passed; dry run, nothing published"),
    "gate_failed": ("gate failed", "bad", "the data-quality gate failed; nothing published"),
    "failed": ("failed", "bad", "a task failed; nothing published for this partition"),
}
TIMING_KEYS = (("stage_s", "Extract and stage"), ("gate_s", "Data-quality gate"), ("publish_s", "Publish"))
RESULT_KEYS = ("observed_value", "element_count", "unexpected_count", "unexpected_percent", "missing_count")


class ReportUnavailable(RuntimeError):
    """The flow database cannot be read (down, wrong credentials)."""


# ---------------------------------------------------------------------------------------------- data


def _dt(v: Any) -> datetime | None:
    """MySQL returns datetimes, SQLite the text the pipeline stored."""
    if v is None or isinstance(v, datetime):
        return v
    if isinstance(v, date):
        return datetime.combine(v, datetime.min.time())
    try:
        return datetime.fromisoformat(str(v))
    except ValueError:
        return None


def _json(text: Any, kind: type) -> Any:
    if text is None or text == "":
        return kind()
    try:
        value = json.loads(text) if isinstance(text, (str, bytes)) else text
    except ValueError:
        return kind()
    return value if isinstance(value, kind) else kind()


def _missing_table(exc: BaseException) -> bool:
    """leads_flow_run does not exist until the DAG's first plan task ran."""
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    return code == 1146 or "no such table" in str(exc)


def _query(name: str, params: dict[str, Any], conn_id: str) -> list[tuple]:
    from leads_flow.io.db import connected

    try:
        with connected(conn_id) as db:
            return db.query(name, params)
    except Exception as exc:  # noqa: BLE001 - classified below
        cause = exc.__cause__ or exc
        if _missing_table(cause):
            return []
        log.warning("run report: cannot read %s: %s", conn_id, redact(f"{type(exc).__name__}: {exc}")[:500])
        raise ReportUnavailable(f"cannot read the flow database ({type(cause).__name__})") from exc


def _shape(row: dict[str, Any]) -> dict[str, Any]:
    """One leads_flow_run row as the pages and the API use it (datetimes parsed, JSON decoded)."""
    run = dict(row)
    for k in DATETIME_COLUMNS:
        run[k] = _dt(run.get(k))
    start, end, done = run["partition_start"], run["partition_end"], run["finished_at"]
    run["duration_s"] = round((done - run["started_at"]).total_seconds(), 3) if done and run["started_at"] else None
    label = f"{start:%Y-%m-%d}" if start else "?"
    if start and end and (start.time() != datetime.min.time() or (end - start).days != 1 or end.time() != start.time()):
        label = f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M}"
    run["partition_label"] = label
    run["gate_success"] = None if run.get("gate_success") is None else bool(run["gate_success"])
    run["gate_failed_checks"] = [c for c in (run.get("gate_failed_checks") or "").split(",") if c]
    if "rejects_by_reason" in run:
        reasons = _json(run["rejects_by_reason"], dict)
        run["rejects_by_reason"] = dict(
            sorted(((str(k), int(v or 0)) for k, v in reasons.items()), key=lambda kv: (-kv[1], kv[0]))
        )
        blank = dict.fromkeys(("check", "expectation", "success", "error") + RESULT_KEYS)
        run["gate_results"] = [
            {**blank, **r, "success": bool(r.get("success"))}
            for r in _json(run["gate_results"], list)
            if isinstance(r, dict)
        ]
        run["timings"] = {k: v for k, v in _json(run["timings"], dict).items() if isinstance(v, (int, float))}
    ext, rej = run.get("extracted"), run.get("rejected")
    run["reject_ratio"] = (rej / ext) if ext and rej is not None else None
    return run


def list_runs(
    *,
    limit: int = DEFAULT_LIMIT,
    status: str | None = None,
    dag_id: str | None = None,
    dag_run_id: str | None = None,
    conn_id: str = FLOW_CONN_ID,
) -> list[dict[str, Any]]:
    """Recent partition runs, newest first (any DAG: the app narrows it with :func:`list_runs_of`)."""
    rows = _query(
        "report_runs",
        {"limit": int(limit), "status": status or None, "dag_id": dag_id or None, "dag_run_id": dag_run_id or None},
        conn_id,
    )
    return [_shape(dict(zip(LIST_COLUMNS, r))) for r in rows]


def list_runs_of(
    dag_ids: Sequence[str],
    *,
    limit: int = DEFAULT_LIMIT,
    status: str | None = None,
    dag_run_id: str | None = None,
    conn_id: str = FLOW_CONN_ID,
) -> list[dict[str, Any]]:
    """The newest ``limit`` runs of these DAGs only (one query per DAG, merged in the SQL's order)."""
    runs = [
        r
        for d in sorted(set(dag_ids))
        for r in list_runs(limit=limit, status=status, dag_id=d, dag_run_id=dag_run_id, conn_id=conn_id)
    ]
    runs.sort(key=lambda r: r["etl_run_id"])
    runs.sort(key=lambda r: (r["started_at"] or datetime.min, r["partition_start"] or datetime.min), reverse=True)
    return runs[:limit]


def get_run(etl_run_id: str, *, conn_id: str = FLOW_CONN_ID) -> dict[str, Any] | None:
    """One partition run with its gate results, rejects by reason, timings and a sample of rejected leads."""
    rows = _query("report_run", {"etl_run_id": etl_run_id}, conn_id)
    if not rows:
        return None
    run = _shape(dict(zip(RUN_COLUMNS, rows[0])))
    sample = (
        _query("report_rejects", {"etl_run_id": etl_run_id, "limit": REJECT_SAMPLE}, conn_id) if run["rejected"] else []
    )
    run["rejected_sample"] = [
        {"lead_id": lid, "reasons": [r for r in (why or "").split(",") if r], "source_updated_at": _dt(sua)}
        for lid, why, sua in sample
    ]
    return run


def to_json(run: dict[str, Any]) -> dict[str, Any]:
    """A run for the JSON API: ISO datetimes, phones masked in every string."""

    def conv(v: Any) -> Any:
        if isinstance(v, datetime):
            return v.isoformat()
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        if isinstance(v, list):
            return [conv(x) for x in v]
        return v

    return redact_all(conv(run))


# ---------------------------------------------------------------------------------------------- views


@dataclass(frozen=True)
class Urls:
    """Links relative to where the app is mounted (``root``: the ASGI root_path, e.g. ``/leads-flow``)."""

    root: str

    @property
    def airflow(self) -> str:
        """The Airflow UI's root: the mount point without the report's own prefix."""
        return self.root[: -len(REPORT_PREFIX)] if self.root.endswith(REPORT_PREFIX) else ""

    def home(self, **query: Any) -> str:
        q = {k: v for k, v in query.items() if v not in (None, "")}
        return f"{self.root}/" + (f"?{urlencode(q)}" if q else "")

    def run(self, etl_run_id: str) -> str:
        return f"{self.root}/runs/{quote(etl_run_id, safe='')}"

    def dag_run(self, dag_id: str, run_id: str) -> str:
        return f"{self.root}/dag-runs/{quote(dag_id, safe='')}/{quote(run_id, safe='')}"

    def api_runs(self, **query: Any) -> str:
        q = {k: v for k, v in query.items() if v not in (None, "")}
        return f"{self.root}/api/runs" + (f"?{urlencode(q)}" if q else "")

    def api_run(self, etl_run_id: str) -> str:
        return f"{self.root}/api/runs/{quote(etl_run_id, safe='')}"

    def airflow_dag_run(self, dag_id: str, run_id: str) -> str:
        return f"{self.airflow}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"


def _finalize(value: Any) -> Any:
    """Every ``{{ }}`` output: None prints as nothing, strings with phones masked (Markup is already final)."""
    if value is None:
        return ""
    if isinstance(value, str) and not isinstance(value, Markup):
        return redact(value)
    return value


def _num(v: Any) -> str:
    if v is None or v == "":
        return "–"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.3f}".rstrip("0").rstrip(".") if v != int(v) else f"{int(v):,}"
    return str(v)


def _when(v: Any) -> str:
    return f"{v:%Y-%m-%d %H:%M:%S}" if isinstance(v, datetime) else ("–" if v is None else str(v))


def _secs(v: Any) -> str:
    if v is None:
        return "–"
    v = float(v)
    if v < 60:
        return f"{v:.1f} s" if v < 10 else f"{v:.0f} s"
    m, s = divmod(round(v), 60)
    return f"{m} min {s:02d} s" if m < 60 else f"{m // 60} h {m % 60:02d} min"


def _pct(v: Any) -> str:
    return "–" if v is None else f"{float(v) * 100:.2f} %"


def _observed(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return _num(v)
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False, default=str)
    return str(v)


def _status(status: str | None) -> dict[str, str]:
    label, colour, meaning = STATUSES.get(status or "", (status or "unknown", "info", "unknown status"))
    return {"label": label, "colour": colour, "meaning": meaning, "status": status or ""}


def reject_chart(reasons: dict[str, int], *, bar_w: int = 320, label_w: int = 230) -> dict[str, Any]:
    """Geometry of the inline SVG bar chart: one horizontal bar per reason, longest = most rejects."""
    top = max(reasons.values(), default=0) or 1
    total = sum(reasons.values()) or 1
    bars = [
        {"reason": r, "count": n, "y": i * 26, "w": max(2, round(bar_w * n / top)) if n else 0, "share": n / total}
        for i, (r, n) in enumerate(reasons.items())
    ]
    return {
        "bars": bars,
        "label_w": label_w,
        "bar_w": bar_w,
        "width": label_w + bar_w + 90,
        "height": max(26 * len(bars), 26),
    }


def timing_chart(timings: dict[str, float], *, width: int = 420) -> dict[str, Any]:
    """A stacked bar of stage / gate / publish seconds."""
    parts = [(k, label, float(timings[k])) for k, label in TIMING_KEYS if k in timings]
    total = sum(s for _, _, s in parts) or 1.0
    x, segs = 0.0, []
    for key, label, s in parts:
        w = width * s / total
        segs.append({"key": key, "label": label, "x": round(x, 1), "w": round(max(w, 1.0), 1), "s": s})
        x += w
    return {"segments": segs, "width": width, "total": sum(s for _, _, s in parts)}


STYLE = """
:root{--fg:#1f2937;--muted:#6b7280;--bg:#fff;--card:#f9fafb;--line:#e5e7eb;--link:#0b63c5;
--ok:#15803d;--okbg:#dcfce7;--bad:#b91c1c;--badbg:#fee2e2;--run:#1d4ed8;--runbg:#dbeafe;--info:#0f766e;--infobg:#ccfbf1;
--bar:#f59e0b;--s1:#3b82f6;--s2:#8b5cf6;--s3:#10b981}
@media (prefers-color-scheme: dark){:root{--fg:#e5e7eb;--muted:#9ca3af;--bg:#111827;--card:#1f2937;--line:#374151;
--link:#60a5fa;--okbg:#14532d;--ok:#bbf7d0;--badbg:#7f1d1d;--bad:#fecaca;--runbg:#1e3a8a;--run:#bfdbfe;--infobg:#134e4a;--info:#99f6e4}}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header{display:flex;gap:16px;align-items:baseline;padding:12px 20px;border-bottom:1px solid var(--line)}
header .brand{font-weight:600;font-size:16px}header nav{margin-left:auto;display:flex;gap:14px}
main{padding:16px 20px;max-width:1280px}footer{padding:12px 20px;color:var(--muted);font-size:12px}
a{color:var(--link);text-decoration:none}a:hover{text-decoration:underline}
h1{font-size:20px;margin:4px 0 12px}h2{font-size:16px;margin:22px 0 8px}
table{border-collapse:collapse;width:100%}th,td{padding:6px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{font-weight:600;color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.03em}
td.nowrap{white-space:nowrap}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12.5px;word-break:break-all}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;white-space:nowrap}
.b-ok{background:var(--okbg);color:var(--ok)}.b-bad{background:var(--badbg);color:var(--bad)}
.b-run{background:var(--runbg);color:var(--run)}.b-info{background:var(--infobg);color:var(--info)}
.pf{font-weight:700;font-size:12px;padding:1px 6px;border-radius:4px}.pf.pass{background:var(--okbg);color:var(--ok)}.pf.fail{background:var(--badbg);color:var(--bad)}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(140px,1fr));gap:10px;margin:8px 0}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px 12px}
.card .k{color:var(--muted);font-size:12px}.card .v{font-size:22px;font-weight:600;font-variant-numeric:tabular-nums}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0}dl.meta dt{color:var(--muted)}dl.meta dd{margin:0}
.error{background:var(--badbg);color:var(--bad);border-radius:8px;padding:10px 12px;white-space:pre-wrap;word-break:break-word}
.muted{color:var(--muted)}.empty{color:var(--muted);padding:20px 0}
form.filters{display:flex;gap:10px;align-items:center;margin:0 0 12px}
form.filters select,form.filters input,form.filters button{font:inherit;padding:3px 6px}
table.narrow{width:auto;min-width:420px}#expectations tr.fail td{background:var(--badbg)}
svg text{fill:var(--fg);font-size:12px}svg rect.bar{fill:var(--bar)}
svg rect.stage_s{fill:var(--s1)}svg rect.gate_s{fill:var(--s2)}svg rect.publish_s{fill:var(--s3)}
.legend span{display:inline-block;width:10px;height:10px;border-radius:2px;margin:0 4px 0 12px;vertical-align:-1px}
.legend .stage_s{background:var(--s1)}.legend .gate_s{background:var(--s2)}.legend .publish_s{background:var(--s3)}
"""

TEMPLATES = {
    "base.html": """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{% block title %}Leads flow runs{% endblock %}</title><style>{{ style }}</style></head>
<body><header><a class="brand" href="{{ urls.home() }}">Leads flow runs</a>
<span class="muted">leads_legacy.leads_aggr → leads_flow</span>
<nav><a href="{{ urls.home() }}">Recent runs</a><a href="{{ urls.api_runs() }}">JSON</a></nav></header>
<main>{% block main %}{% endblock %}</main>
<footer>Partition and window times are Asia/Shanghai wall-clock time; started/finished are the worker's clock.
Source: table leads_flow_run (one row per partition run).</footer></body></html>
""",
    "list.html": """{% extends "base.html" %}
{% block title %}{{ heading }} · Leads flow runs{% endblock %}
{% block main %}
<h1>{{ heading }}</h1>
{% if dag_run %}<p><a target="_top" href="{{ urls.airflow_dag_run(dag_run.dag_id, dag_run.run_id) }}">Open the DAG run in Airflow</a></p>
{% else %}
<form class="filters" method="get" action="{{ urls.home() }}">
<label>Status <select name="status"><option value="">any</option>
{% for key, s in statuses.items() %}<option value="{{ key }}"{% if key == status %} selected{% endif %}>{{ s[0] }}</option>{% endfor %}
</select></label>
<label>Show <input name="limit" type="number" min="1" max="{{ max_limit }}" value="{{ limit }}" size="4"></label>
<button type="submit">Apply</button></form>
{% endif %}
{% if not runs %}
<p class="empty" id="no-runs">No partition runs{% if status or dag_run %} match{% else %} recorded yet: trigger leads_flow_sync, each partition it runs shows up here{% endif %}.</p>
{% else %}
<table class="runs"><thead><tr><th>Partition</th><th>Status</th><th>DAG run</th>
<th class="num">Extracted</th><th class="num">Staged</th><th class="num">Rejected</th><th class="num">Published</th>
<th>Gate</th><th>Started</th><th class="num">Duration</th></tr></thead><tbody>
{% for r in runs %}{% set s = status_of(r.status) %}
<tr data-run-id="{{ r.etl_run_id }}">
<td class="nowrap"><a class="run-link" href="{{ urls.run(r.etl_run_id) }}">{{ r.partition_label }}</a></td>
<td><span class="badge b-{{ s.colour }}" title="{{ s.meaning }}">{{ s.label }}</span></td>
<td class="mono">{{ r.dag_run_id }}</td>
<td class="num">{{ r.extracted | num }}</td><td class="num">{{ r.staged | num }}</td>
<td class="num">{{ r.rejected | num }}</td><td class="num">{{ r.published | num }}</td>
<td>{% if r.gate_success is none %}<span class="muted">–</span>{% elif r.gate_success %}<span class="pf pass">PASS</span>
{% else %}<span class="pf fail">FAIL</span> <span class="muted">{{ r.gate_failed_checks | join(", ") }}</span>{% endif %}</td>
<td>{{ r.started_at | when }}</td><td class="num">{{ r.duration_s | secs }}</td></tr>
{% endfor %}</tbody></table>
{% endif %}
{% endblock %}
""",
    "run.html": """{% extends "base.html" %}
{% block title %}{{ run.partition_label }} {{ status_of(run.status).label }} · Leads flow runs{% endblock %}
{% block main %}
{% set s = status_of(run.status) %}
<p><a href="{{ urls.home() }}">← Recent runs</a>{% if run.dag_id and run.dag_run_id %} ·
<a href="{{ urls.dag_run(run.dag_id, run.dag_run_id) }}">All partitions of this DAG run</a> ·
<a target="_top" href="{{ urls.airflow_dag_run(run.dag_id, run.dag_run_id) }}">DAG run in Airflow</a>{% endif %} ·
<a href="{{ urls.api_run(run.etl_run_id) }}">JSON</a></p>
<h1>Partition {{ run.partition_label }} <span class="badge b-{{ s.colour }}" id="status" title="{{ s.meaning }}">{{ s.label }}</span></h1>
<dl class="meta">
<dt>Partition run</dt><dd class="mono" id="etl-run-id">{{ run.etl_run_id }}</dd>
<dt>DAG / run</dt><dd class="mono">{{ run.dag_id }} / {{ run.dag_run_id }}</dd>
<dt>Partition</dt><dd>[{{ run.partition_start | when }}, {{ run.partition_end | when }})</dd>
<dt>Window read</dt><dd>[{{ run.window_start | when }}, {{ run.window_end | when }}) <span class="muted">(partition plus the overlap before it, by COALESCE(update_time, create_time))</span></dd>
<dt>Started</dt><dd>{{ run.started_at | when }}</dd>
<dt>Finished</dt><dd>{{ run.finished_at | when }}{% if run.duration_s is not none %} <span class="muted">({{ run.duration_s | secs }})</span>{% endif %}</dd>
<dt>Status</dt><dd>{{ s.meaning }}</dd>
</dl>
{% if run.error %}<h2>Error</h2><div class="error" id="error">{{ run.error }}</div>{% endif %}

<h2>Counts</h2>
<div class="cards" id="counts">
{% for key, label in [("extracted", "Extracted"), ("staged", "Staged"), ("rejected", "Rejected"), ("coerced", "Coerced"), ("published", "Published")] %}
<div class="card" id="count-{{ key }}"><div class="k">{{ label }}</div><div class="v">{{ run[key] | num }}</div></div>
{% endfor %}
<div class="card" id="count-reject-ratio"><div class="k">Reject ratio</div><div class="v">{{ run.reject_ratio | pct }}</div></div>
</div>
<p class="muted">Extracted = staged + rejected. Coerced: loaded with a field set to NULL or a default. Published: rows
inserted or changed in leads_flow (newer source_updated_at wins; an unchanged row counts 0).</p>

<h2>Rejects by reason</h2>
{% if run.rejects_by_reason %}
<svg id="rejects-chart" role="img" aria-label="Rejects by reason" width="{{ chart.width }}" height="{{ chart.height }}" viewBox="0 0 {{ chart.width }} {{ chart.height }}">
{% for b in chart.bars %}<g transform="translate(0,{{ b.y }})"><title>{{ b.reason }}: {{ b.count }}</title>
<text x="{{ chart.label_w - 8 }}" y="15" text-anchor="end">{{ b.reason }}</text>
<rect class="bar" x="{{ chart.label_w }}" y="3" width="{{ b.w }}" height="16" rx="3"></rect>
<text x="{{ chart.label_w + b.w + 6 }}" y="15">{{ b.count | num }}</text></g>
{% endfor %}</svg>
<table id="rejects" class="narrow"><thead><tr><th>Reason</th><th class="num">Rows</th><th class="num">Share of rejects</th></tr></thead><tbody>
{% for b in chart.bars %}<tr><td class="mono">{{ b.reason }}</td><td class="num">{{ b.count | num }}</td><td class="num">{{ b.share | pct }}</td></tr>{% endfor %}
</tbody></table>
<p class="muted">A row can carry several reasons, so the rows above may add up to more than the rejected count.</p>
{% else %}<p class="empty" id="no-rejects">{% if run.rejected == 0 %}No rejected rows.{% else %}No rejects recorded.{% endif %}</p>{% endif %}

<h2>Data-quality gate {% if run.gate_success is none %}<span class="muted">(did not run)</span>{% elif run.gate_success %}<span class="pf pass" id="gate">PASS</span>{% else %}<span class="pf fail" id="gate">FAIL</span>{% endif %}</h2>
{% if run.gate_results %}
<table id="expectations"><thead><tr><th>Check</th><th>Expectation</th><th>Result</th><th>Observed value</th>
<th class="num">Rows checked</th><th class="num">Unexpected</th><th class="num">Unexpected %</th></tr></thead><tbody>
{% for r in run.gate_results %}<tr class="{{ 'pass' if r.success else 'fail' }}">
<td class="mono">{{ r.check }}</td><td class="mono">{{ r.expectation }}</td>
<td>{% if r.success %}<span class="pf pass">PASS</span>{% else %}<span class="pf fail">FAIL</span>{% endif %}{% if r.error %} <span class="muted">{{ r.error }}</span>{% endif %}</td>
<td>{{ r.observed_value | observed }}</td><td class="num">{{ r.element_count | num }}</td>
<td class="num">{{ r.unexpected_count | num }}</td><td class="num">{% if r.unexpected_percent is not none %}{{ "%.2f" | format(r.unexpected_percent) }} %{% else %}–{% endif %}</td></tr>
{% endfor %}</tbody></table>
{% else %}<p class="empty">{% if run.status in ("staging", "staged") %}The gate has not run yet.{% else %}No gate results: the partition failed before its gate.{% endif %}</p>{% endif %}

<h2>Timings</h2>
{% if tchart.segments %}
<svg id="timings-chart" role="img" aria-label="Timings" width="{{ tchart.width }}" height="22" viewBox="0 0 {{ tchart.width }} 22">
{% for seg in tchart.segments %}<rect class="{{ seg.key }}" x="{{ seg.x }}" y="2" width="{{ seg.w }}" height="18"><title>{{ seg.label }}: {{ seg.s | secs }}</title></rect>{% endfor %}
</svg>
<p class="legend">{% for seg in tchart.segments %}<span class="{{ seg.key }}"></span>{{ seg.label }}{% endfor %}</p>
<table id="timings" class="narrow"><tbody>
{% for seg in tchart.segments %}<tr><td>{{ seg.label }}</td><td class="num">{{ seg.s | secs }}</td></tr>{% endfor %}
<tr><th>Total</th><th class="num">{{ tchart.total | secs }}</th></tr></tbody></table>
{% else %}<p class="empty">No timings recorded.</p>{% endif %}

{% if run.rejected_sample %}
<h2>Rejected leads{% if run.rejected > run.rejected_sample | length %} <span class="muted">(first {{ run.rejected_sample | length }} of {{ run.rejected | num }}, by lead id)</span>{% endif %}</h2>
<table id="rejected-leads"><thead><tr><th class="num">Lead id</th><th>Reasons</th><th>Source updated at</th></tr></thead><tbody>
{% for r in run.rejected_sample %}<tr><td class="num mono">{{ r.lead_id }}</td><td class="mono">{{ r.reasons | join(", ") }}</td><td>{{ r.source_updated_at | when }}</td></tr>{% endfor %}
</tbody></table>
<p class="muted">Rows and reasons live in leads_flow_reject (phones only as e1 tokens and masks).</p>
{% endif %}
{% endblock %}
""",
    "error.html": """{% extends "base.html" %}
{% block title %}{{ code }} · Leads flow runs{% endblock %}
{% block main %}<h1>{{ title }}</h1><p id="message">{{ message }}</p>
{% if login %}<p><a target="_top" href="{{ urls.airflow }}/">Sign in to Airflow</a>, then open the report from its menu.</p>{% endif %}
<p><a href="{{ urls.home() }}">Recent runs</a></p>{% endblock %}
""",
}

_ENV = jinja2.Environment(
    loader=jinja2.DictLoader(TEMPLATES),
    autoescape=True,
    finalize=_finalize,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.filters.update(num=_num, when=_when, secs=_secs, pct=_pct, observed=_observed)
_ENV.globals.update(status_of=_status, statuses=STATUSES, style=Markup(STYLE), max_limit=MAX_LIMIT)


def render(template: str, root: str, **ctx: Any) -> str:
    return _ENV.get_template(template).render(urls=Urls(root), **ctx)


def render_list(
    runs: list[dict[str, Any]],
    root: str = "",
    *,
    heading: str = "Recent partition runs",
    status: str | None = None,
    limit: int = DEFAULT_LIMIT,
    dag_run: dict[str, str] | None = None,
) -> str:
    return render("list.html", root, runs=runs, heading=heading, status=status, limit=limit, dag_run=dag_run)


def render_run(run: dict[str, Any], root: str = "") -> str:
    return render(
        "run.html", root, run=run, chart=reject_chart(run["rejects_by_reason"]), tchart=timing_chart(run["timings"])
    )


# ---------------------------------------------------------------------------------------------- app

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
STATUS_PATTERN = r"^[a-z_]{1,16}$"


def all_project_dags() -> frozenset[str]:
    """``readable_dags`` without an auth manager: every project DAG (tests, local use)."""
    return frozenset(project_dag_ids())


def create_app(
    *, dependencies: Sequence[Any] = (), readable_dags: Callable[..., Any] | None = None, conn_id: str = FLOW_CONN_ID
) -> Any:
    """The report as a FastAPI app.

    ``readable_dags`` is a FastAPI dependency returning the project DAG ids the request's user may read
    runs of (the plugin passes :func:`airflow_readable_dags`; it also authenticates: 401 without a login).
    It guards every route, with ``dependencies``.
    """
    from fastapi import Depends, FastAPI, Query, Request
    from fastapi.responses import HTMLResponse, JSONResponse
    from starlette.exceptions import HTTPException

    readable_dep = Depends(readable_dags or all_project_dags)
    project = frozenset(project_dag_ids())
    app = FastAPI(
        title="Leads flow run report",
        dependencies=[*dependencies, readable_dep],
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    def allowed(readable: Any) -> frozenset[str]:
        return frozenset(readable or ()) & project

    def dag_scope(dag_id: str | None, readable: Any) -> list[str]:
        """The DAG ids a list may show: one asked-for DAG (404 if not ours, 403 if not readable), else all readable."""
        mine = allowed(readable)
        if dag_id:  # an empty ?dag_id= means no filter
            if dag_id not in project:
                raise HTTPException(
                    404, "Not a leads-flow DAG: the report shows leads_flow_sync and leads_flow_reconcile runs only."
                )
            if dag_id not in mine:
                raise HTTPException(403, "Not allowed")
            return [dag_id]
        if not mine:
            raise HTTPException(403, "Not allowed")
        return sorted(mine)

    def visible_run(etl_run_id: str, readable: Any, not_found: str) -> dict[str, Any]:
        """One run, if it belongs to a project DAG (else 404, like an unknown run) the user may read (else 403)."""
        run = get_run(etl_run_id, conn_id=conn_id)
        if run is None or run.get("dag_id") not in project:
            raise HTTPException(404, not_found)
        if run["dag_id"] not in allowed(readable):
            raise HTTPException(403, "Not allowed")
        return run

    def root(request: Request) -> str:
        return request.scope.get("root_path", "").rstrip("/")

    def html(body: str, code: int = 200) -> HTMLResponse:
        return HTMLResponse(body, status_code=code, headers=SECURITY_HEADERS)

    def is_api(request: Request) -> bool:
        path = request.url.path
        base = root(request)
        return (path[len(base) :] if path.startswith(base) else path).startswith("/api/")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Any:
        if is_api(request):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        login = exc.status_code in (401, 403)
        title = {401: "Sign in required", 403: "Not allowed", 404: "Not found"}.get(exc.status_code, "Error")
        message = exc.detail if isinstance(exc.detail, str) else title
        if login:
            message = (
                "The run report needs an Airflow login with read access to the runs of this DAG "
                "(leads_flow_sync, leads_flow_reconcile)."
                if exc.status_code == 403
                else "The run report needs an Airflow login."
            )
        return html(
            render("error.html", root(request), code=exc.status_code, title=title, message=message, login=login),
            exc.status_code,
        )

    @app.exception_handler(ReportUnavailable)
    async def unavailable(request: Request, exc: ReportUnavailable) -> Any:
        if is_api(request):
            return JSONResponse({"detail": str(exc)}, status_code=503)
        return html(
            render(
                "error.html",
                root(request),
                code=503,
                title="Flow database unavailable",
                message=f"{exc}. Check the leads_flow connection; details are in the api-server log.",
                login=False,
            ),
            503,
        )

    @app.get("/", response_class=HTMLResponse)
    def runs_page(
        request: Request,
        limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
        status: str | None = Query(None, pattern=STATUS_PATTERN),
        dag_id: str | None = None,
        readable: Any = readable_dep,
    ) -> HTMLResponse:
        runs = list_runs_of(dag_scope(dag_id, readable), limit=limit, status=status, conn_id=conn_id)
        return html(render_list(runs, root(request), status=status, limit=limit))

    @app.get("/dag-runs/{dag_id}/{dag_run_id:path}", response_class=HTMLResponse)
    def dag_run_page(request: Request, dag_id: str, dag_run_id: str, readable: Any = readable_dep) -> HTMLResponse:
        runs = list_runs_of(dag_scope(dag_id, readable), limit=MAX_LIMIT, dag_run_id=dag_run_id, conn_id=conn_id)
        return html(
            render_list(
                runs,
                root(request),
                heading=f"Partitions of DAG run {dag_run_id}",
                dag_run={"dag_id": dag_id, "run_id": dag_run_id},
            )
        )

    @app.get("/runs/{etl_run_id:path}", response_class=HTMLResponse)
    def run_page(request: Request, etl_run_id: str, readable: Any = readable_dep) -> HTMLResponse:
        run = visible_run(etl_run_id, readable, f"No partition run {etl_run_id!r} in leads_flow_run.")
        return html(render_run(run, root(request)))

    @app.get("/api/runs")
    def runs_api(
        request: Request,
        limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
        status: str | None = Query(None, pattern=STATUS_PATTERN),
        dag_id: str | None = None,
        dag_run_id: str | None = None,
        readable: Any = readable_dep,
    ) -> JSONResponse:
        urls = Urls(root(request))
        runs = list_runs_of(
            dag_scope(dag_id, readable), limit=limit, status=status, dag_run_id=dag_run_id, conn_id=conn_id
        )
        body = {"runs": [{**to_json(r), "report_url": redact(urls.run(r["etl_run_id"]))} for r in runs], "limit": limit}
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    @app.get("/api/runs/{etl_run_id:path}")
    def run_api(request: Request, etl_run_id: str, readable: Any = readable_dep) -> JSONResponse:
        run = visible_run(etl_run_id, readable, "no such partition run")
        return JSONResponse(
            {**to_json(run), "report_url": redact(Urls(root(request)).run(etl_run_id))},
            headers={"Cache-Control": "no-store"},
        )

    return app


class LazyApp:
    """An ASGI app built on its first request.

    Every Airflow process imports plugins (the task runner does, for macros), but only the api-server
    serves this app; building it, and importing Airflow's API security for it, is left to that process.
    """

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._app: Any = None
        self._lock = threading.Lock()

    @property
    def app(self) -> Any:
        if self._app is None:
            with self._lock:
                if self._app is None:
                    self._app = self._factory()
        return self._app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        await self.app(scope, receive, send)


def readable_dag_ids(user: Any, dag_ids: Sequence[str], auth_manager: Any = None) -> frozenset[str]:
    """The ``dag_ids`` whose runs ``user`` may read, asking Airflow's auth manager once per DAG.

    The same question ``requires_access_dag("GET", DagAccessEntity.RUN)`` asks for one DAG in Airflow's own
    DAG-run API: ``is_authorized_dag(method="GET", access_entity=RUN, details=DagDetails(id, team_name))``.
    The team name is looked up only when ``[core] multi_team`` is on (it is a metadata-database query).
    """
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
    from airflow.configuration import conf

    manager = auth_manager or get_auth_manager()
    multi_team = conf.getboolean("core", "multi_team", fallback=False)
    out = set()
    for dag_id in dag_ids:
        team = None
        if multi_team:
            from airflow.models.dag import DagModel

            team = DagModel.get_team_name(dag_id)
        if manager.is_authorized_dag(
            method="GET", access_entity=DagAccessEntity.RUN, details=DagDetails(id=dag_id, team_name=team), user=user
        ):
            out.add(dag_id)
    return frozenset(out)


def airflow_readable_dags() -> Callable[..., Any]:
    """The plugin's ``readable_dags``: Airflow's login (UI cookie or bearer token; 401 without), then the
    project DAGs that user may read runs of (:func:`readable_dag_ids`)."""
    from airflow.api_fastapi.core_api.security import GetUserDep

    def readable(user: GetUserDep) -> frozenset[str]:
        return readable_dag_ids(user, project_dag_ids())

    return readable


def plugin_app() -> Any:
    """The app the plugin mounts: the report behind Airflow's authentication and per-DAG run permissions."""
    return create_app(readable_dags=airflow_readable_dags())
