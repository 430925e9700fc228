"""The run report's cutover page: what the reconcile measured, day by day and over time, against the gates of
docs/cutover.md ("Readiness gates").

Reads ``leads_flow_reconcile_run`` only (read-only; SQL in ``include/sql/cutover/``): its rows hold
counts and rates, never a value of a lead. A day may have been compared by several runs (each sync publish
triggers one, and people run ranges); the page uses the latest compare of each day. The gates:

1. **History**: a run with a full match (``match_rate = 1``, ``cutover_ready``, no failed decrypt sample) that
   started at the first day any reconcile ever compared (the page cannot see ``leads_aggr``, so that day stands
   for the start of the history) and reached at least the first day of the steady-state streak.
2. **Steady state**: :data:`STEADY_DAYS` consecutive days, up to the latest compared day, each with a full match,
   no blocking class and no failed decrypt sample (a day not compared breaks the run of days).
3. **Expected rejects reviewed**: a decision of the owners, which no table holds; the page checks what it can
   (no new ``missing_in_legacy`` during the streak) and shows ``rejected_by_rule`` per day for the review.

The page (``render_cutover``) draws the daily match rate as an inline SVG (no script, nothing loaded from
elsewhere) and links every day and run to the reconcile run in Airflow and to its repair partitions here.
"""

from __future__ import annotations

import json
import logging
from datetime import date, datetime, timedelta
from typing import Any

from leads_flow.io.connect import connected
from leads_flow.io.db import as_datetime
from leads_flow.names import (
    BLOCKING,
    FLOW_CONN_ID,
    MISSING_IN_LEGACY,
    RECONCILE_DAG_ID,
    RECONCILE_RUN_TABLE,
    REJECTED_BY_RULE,
)
from leads_flow.report.data import ReportUnavailable, missing_table, read_rows, to_json

log = logging.getLogger(__name__)

STEADY_DAYS = 14
DEFAULT_DAYS, MAX_DAYS = 60, 730
RUN_LIMIT = 30
CLASSES = (*BLOCKING, MISSING_IN_LEGACY, REJECTED_BY_RULE)
COUNT_COLUMNS = ("legacy_rows", "expected_rows", "matched", *CLASSES, "phone_sampled", "phone_sample_failed")
WINDOW_COLUMNS = (
    "reconcile_run_id",
    "dag_run_id",
    "window_start",
    "window_end",
    "status",
    *COUNT_COLUMNS,
    "match_rate",
    "repaired",
    "repair_fixed",
    "match_rate_after_repair",
    "drift_by_class",
    "started_at",
)
RUN_COLUMNS = (*WINDOW_COLUMNS, "windows", "open_drift", "cutover_ready")
COMPARED = ("compared", "repaired")


def _read(name: str, params: dict[str, Any], conn_id: str, columns: tuple[str, ...]) -> list[dict[str, Any]]:
    """Rows of a cutover query as dicts; none while the reconcile has never run (no table yet)."""
    rows = read_rows(name, params, conn_id, page="cutover page", columns=", ".join(columns))
    return [_shape(dict(zip(columns, r))) for r in rows]


def _erased(drift_by_class: Any) -> int:
    """Erased leads of a row (not drift, only in drift_by_class: ``{"erased": n}`` or ``{"erased": {action: n}}``)."""
    try:
        by_class = json.loads(drift_by_class) if isinstance(drift_by_class, str) else (drift_by_class or {})
    except ValueError:
        return 0
    v = by_class.get("erased") if isinstance(by_class, dict) else None
    if isinstance(v, dict):
        return sum(int(n or 0) for n in v.values())
    return int(v or 0) if isinstance(v, (int, float)) else 0


def _shape(row: dict[str, Any]) -> dict[str, Any]:
    r = dict(row)
    for k in ("window_start", "window_end", "started_at"):
        r[k] = as_datetime(r.get(k))
    for k in (*COUNT_COLUMNS, "repaired", "repair_fixed", "windows", "open_drift"):
        if k in r:
            r[k] = None if r[k] is None else int(r[k])
    for k in ("match_rate", "match_rate_after_repair"):
        r[k] = None if r.get(k) is None else float(r[k])
    if "cutover_ready" in r:
        r["cutover_ready"] = None if r["cutover_ready"] is None else bool(r["cutover_ready"])
    r["erased"] = _erased(r.pop("drift_by_class", None))
    r["blocking"] = sum(r.get(c) or 0 for c in BLOCKING)
    return r


def _day_ok(d: dict[str, Any]) -> bool:
    """A day that counts for gate 2: compared, a full match (or nothing expected), nothing blocking, no sample
    that failed to decrypt to the legacy phone."""
    full = d["match_rate"] is None and not d["expected_rows"] or (d["match_rate"] or 0) >= 1.0
    return d["status"] in COMPARED and full and d["blocking"] == 0 and not d["phone_sample_failed"]


def days_of(windows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The latest compare of each day (a failed compare counts only when the day has no finished one), oldest
    first, with ``compares`` (how many runs compared the day) and ``ok`` (the day holds for gate 2)."""
    by_day: dict[date, list[dict[str, Any]]] = {}
    for w in windows:
        if w["window_start"] is not None:
            by_day.setdefault(w["window_start"].date(), []).append(w)
    out = []
    for day in sorted(by_day):
        rows = by_day[day]
        finished = [w for w in rows if w["status"] in COMPARED] or rows
        latest = max(finished, key=lambda w: (w["started_at"] or datetime.min, w["reconcile_run_id"]))
        out.append({**latest, "day": day, "compares": len(rows), "ok": _day_ok(latest)})
    return out


def streak_of(days: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The consecutive good days ending at the latest compared day (empty when that day is not good)."""
    out: list[dict[str, Any]] = []
    for d in reversed(days):
        if not d["ok"] or (out and d["day"] != out[-1]["day"] - timedelta(days=1)):
            break
        out.append(d)
    return list(reversed(out))


def cutover_view(days: int = DEFAULT_DAYS, *, today: date | None = None, conn_id: str = FLOW_CONN_ID) -> dict[str, Any]:
    """Everything the page shows: the last ``days`` days (latest compare of each), the recent runs, the three
    gates and the overall verdict."""
    days = max(1, min(int(days), MAX_DAYS))
    today = today or datetime.now().date()
    since = datetime.combine(today - timedelta(days=days), datetime.min.time())
    shown = days_of(_read("cutover_windows", {"since": since}, conn_id, WINDOW_COLUMNS))
    # gate 2 may look further back than the page shows: always at least STEADY_DAYS + 1 days
    if days <= STEADY_DAYS:
        long_since = datetime.combine(today - timedelta(days=STEADY_DAYS + 1), datetime.min.time())
        all_days = days_of(_read("cutover_windows", {"since": long_since}, conn_id, WINDOW_COLUMNS))
    else:
        all_days = shown
    streak = streak_of(all_days)
    runs = _read("cutover_runs", {"limit": RUN_LIMIT}, conn_id, RUN_COLUMNS)
    gates = _gates(all_days, streak, conn_id)
    latest = all_days[-1]["day"] if all_days else None
    return {
        "days": shown,
        "period": days,
        "today": today,
        "latest_day": latest,
        "latest_age": (today - latest).days if latest else None,
        "runs": runs,
        "streak": len(streak),
        "streak_start": streak[0]["day"] if streak else None,
        "gates": gates,
        "ready": all(g["met"] for g in gates),
        "totals": {c: sum(d.get(c) or 0 for d in shown) for c in (*CLASSES, "erased")},
    }


def _gates(days: list[dict[str, Any]], streak: list[dict[str, Any]], conn_id: str) -> list[dict[str, Any]]:
    extent = []
    try:
        with connected(conn_id) as db:
            extent = db.query("cutover_extent", {})
    except Exception as exc:  # noqa: BLE001 - classified below
        if not missing_table(exc.__cause__ or exc):
            raise ReportUnavailable(f"cannot read the flow database ({type(exc).__name__})") from exc
    first_day = as_datetime(extent[0][0]) if extent and extent[0][0] is not None else None
    history = None
    if first_day is not None:
        reach = datetime.combine(streak[0]["day"], datetime.min.time()) if streak else None
        for run in _read("cutover_history_run", {"first_day": first_day}, conn_id, RUN_COLUMNS):
            if reach is None or (run["window_end"] and run["window_end"] >= reach):
                history = run
                break
    steady = len(streak) >= STEADY_DAYS
    new_deletes = sum(d.get("missing_in_legacy") or 0 for d in streak[-STEADY_DAYS:])
    rejected = [d.get("rejected_by_rule") or 0 for d in streak[-STEADY_DAYS:]]
    return [
        {
            "n": 1,
            "name": "History",
            "met": history is not None,
            "run": history,
            "detail": (
                f"run {history['reconcile_run_id']} matched every lead from {history['window_start']:%Y-%m-%d} "
                f"to {history['window_end']:%Y-%m-%d}"
                if history
                else "no full-match run from the first compared day"
                + (f" ({first_day:%Y-%m-%d})" if first_day else "")
                + " reaching the steady-state days: run the reconcile over the whole history (repair, then report)"
            ),
        },
        {
            "n": 2,
            "name": "Steady state",
            "met": steady,
            "run": None,
            "detail": f"{len(streak)} of {STEADY_DAYS} consecutive days with a full match and nothing blocking"
            + (f" (since {streak[0]['day']:%Y-%m-%d})" if streak else ""),
        },
        {
            "n": 3,
            "name": "Expected rejects reviewed",
            "met": steady and new_deletes == 0,
            "run": None,
            "detail": (
                f"no new missing_in_legacy in the last {len(rejected)} days; rejected_by_rule per day "
                f"{min(rejected)}–{max(rejected)}: each reason needs its owner's decision (not in any table)"
                if steady and new_deletes == 0
                else (
                    f"{new_deletes} missing_in_legacy during the steady-state days: someone still hard-deletes"
                    if new_deletes
                    else "waits for gate 2"
                )
            ),
        },
    ]


def trend_chart(days: list[dict[str, Any]], *, width: int = 760, height: int = 220) -> dict[str, Any]:
    """Geometry of the inline SVG: the daily match rate as a line (y from the lowest rate shown, at most 99 %,
    to 100 %), each day a point (red when it fails gate 2), blocking drift as bars along the bottom."""
    left, right, top, bottom = 56, 12, 12, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    rates = [d["match_rate"] for d in days if d["match_rate"] is not None]
    lo = min([*rates, 0.99])
    lo = max(0.0, int(lo * 100) / 100) if lo < 1 else 0.99
    span = (1.0 - lo) or 0.01
    first = days[0]["day"] if days else None
    n = ((days[-1]["day"] - first).days + 1) if days else 1
    step = plot_w / max(n - 1, 1)
    top_block = max((d["blocking"] for d in days), default=0) or 1
    points, bars = [], []
    for d in days:
        x = left + ((d["day"] - first).days * step if n > 1 else plot_w / 2)
        if d["blocking"]:
            h = max(2.0, 24 * d["blocking"] / top_block)
            bars.append({"x": round(x - 3, 1), "y": round(top + plot_h - h, 1), "h": round(h, 1), "day": d})
        if d["match_rate"] is not None:
            y = top + plot_h * (1.0 - (d["match_rate"] - lo) / span)
            points.append({"x": round(x, 1), "y": round(y, 1), "day": d})
    return {
        "width": width,
        "height": height,
        "left": left,
        "top": top,
        "plot_w": plot_w,
        "plot_h": plot_h,
        "lo": lo,
        "line": " ".join(f"{p['x']},{p['y']}" for p in points),
        "points": points,
        "bars": bars,
        "first": first,
        "last": days[-1]["day"] if days else None,
    }


def render_cutover(view: dict[str, Any], root: str = "") -> str:
    from leads_flow.report.render import render

    return render(
        "cutover.html",
        root,
        view=view,
        chart=trend_chart(view["days"]),
        blocking=BLOCKING,
        reconcile_dag=RECONCILE_DAG_ID,
        reconcile_table=RECONCILE_RUN_TABLE,
    )


def cutover_json(view: dict[str, Any]) -> dict[str, Any]:
    """The page's data for the JSON API (ISO dates, strings masked)."""
    return to_json(view)
