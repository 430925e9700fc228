"""The run report's HTML: the Jinja environment over ``templates/``, its filters, the two SVG charts, and the
label, badge colour and meaning of every :class:`~leads_flow.io.runlog.RunStatus`.

Run ids come from users, so every value is escaped (Jinja autoescape; URLs percent-encoded), and every string
shown passes :func:`leads_flow.rules.redact.redact` (:func:`_finalize`). The pages load nothing from elsewhere: the
stylesheet (``templates/report.css``) is inlined into each page, and so is their one script (``templates/tz.js``:
moments, rendered in TZ_NAME with their UTC instant, re-rendered in the zone picked in Airflow's UI).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

import jinja2
from markupsafe import Markup

from leads_flow.io.runlog import RunStatus
from leads_flow.names import REPORT_PREFIX, TZ_NAME
from leads_flow.report.data import DEFAULT_LIMIT, MAX_LIMIT, MAX_REJECTS
from leads_flow.rules.redact import redact

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"

# status -> (label, badge colour, what it means)
STATUSES: dict[RunStatus, tuple[str, str, str]] = {
    RunStatus.STAGING: ("staging", "run", "extracting and staging (or the stage task died: see the task log)"),
    RunStatus.STAGED: ("staged", "run", "staged, waiting for the data-quality gate"),
    RunStatus.GATED: ("gate passed", "run", "gate passed, waiting for publish"),
    RunStatus.PUBLISHED: ("published", "ok", "published to leads_flow"),
    RunStatus.DRY_RUN: ("dry run", "info", "gate passed; dry run, nothing published"),
    RunStatus.GATE_FAILED: ("gate failed", "bad", "the data-quality gate failed; nothing published"),
    RunStatus.FAILED: ("failed", "bad", "a task failed; nothing published for this partition"),
    RunStatus.PLAN_FAILED: (
        "plan failed",
        "bad",
        "the run's plan failed (bad parameters such as a reversed window): no partition ran, nothing published",
    ),
    RunStatus.BULK_PUBLISHED: (
        "published (bulk)",
        "ok",
        "a bulk partition (id range), published by the run's bulk publish; the run's per-day rows hold the counts",
    ),
}
CHECKS: dict[str, str] = {
    "extracted_equals_staged_plus_rejected": "Every extracted row is staged or rejected (staged rows)",
    "leads_type_in_set": "Lead type is a known value (rows outside the set)",
    "leads_type_not_null": "Lead type is present (rows without one)",
    "lead_id_not_unique_or_null": "Lead id unique and present (duplicate or empty ids)",
    "phone_cipher_not_e1": "Phone token in the e1 format (tokens that are not)",
    "phone_cipher_without_bidx": "Every phone token has its blind index (tokens without)",
    "plaintext_mobile": "No phone number in plain text in any column (rows with one)",
    "flag_not_0_1_null": "Flags are 0, 1 or empty (rows with another value)",
    "join_time_out_of_range": "Join time in range (rows outside it)",
    "ip_address_invalid": "IP address valid or empty (rows with an invalid one)",
    "reject_ratio_within_limit": "Rejected rows within max_reject_ratio (rejected rows)",
    "volume_within_range": "Volume near the same weekday's median",
}
"""A gate check's name for people (what it counts in brackets); the check's id stays beside it."""


def _limit(result: dict[str, Any]) -> str:
    """What a check allows: ``= n`` or ``≤ n`` (a min of 0 goes without saying), else –."""
    lo, hi = result.get("min_value"), result.get("max_value")
    if lo is not None and lo == hi:
        return f"= {_num(hi)}"
    if hi is not None and (lo in (None, 0)):
        return f"≤ {_num(hi)}"
    if lo is not None and hi is not None:
        return f"{_num(lo)} – {_num(hi)}"
    return "–"


TIMING_KEYS = (("stage_s", "Extract and stage"), ("gate_s", "Data-quality gate"), ("publish_s", "Publish"))
VOLUME_COLOURS = {"pass": "ok", "warn": "run", "fail": "bad", "exempt": "info", "off": "info"}
"""The volume check's verdict (quality.VolumeResult) → badge colour."""


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

    def keys(self) -> str:
        return f"{self.root}/keys"

    def api_keys(self) -> str:
        return f"{self.root}/api/keys"

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


def _instant(v: Any) -> Any:
    """A moment (naive: the deployment's wall clock, TZ_NAME) as ``<time datetime="…Z">``: shown in TZ_NAME,
    carrying the UTC instant that ``templates/tz.js`` re-renders in the zone picked in Airflow's UI."""
    if not isinstance(v, datetime):
        return _when(v)
    utc = (v if v.tzinfo else v.replace(tzinfo=ZoneInfo(TZ_NAME))).astimezone(UTC)
    shown = v if v.tzinfo is None else v.astimezone(ZoneInfo(TZ_NAME))
    return Markup('<time datetime="{}" data-instant>{}</time>').format(
        utc.strftime("%Y-%m-%dT%H:%M:%SZ"), _when(shown.replace(tzinfo=None))
    )


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
    """A row's status as shown: label, badge colour and meaning (an unknown value is shown as it is)."""
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


STYLE = (TEMPLATE_DIR / "report.css").read_text(encoding="utf-8")
TZ_SCRIPT = (TEMPLATE_DIR / "tz.js").read_text(encoding="utf-8")
TZ_SCRIPT_CSP = "'sha256-" + base64.b64encode(hashlib.sha256(TZ_SCRIPT.encode()).digest()).decode() + "'"
"""The one script the pages run (inline; the Content-Security-Policy allows it by this hash only)."""
TZ_LABEL = Markup("<span data-tz-label>{}</span>").format(TZ_NAME)
"""The zone of the instants shown; tz.js swaps it for the UI's zone."""

_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATE_DIR, encoding="utf-8"),
    autoescape=True,
    finalize=_finalize,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.filters.update(num=_num, when=_when, instant=_instant, secs=_secs, pct=_pct, observed=_observed)
_ENV.globals.update(
    status_of=_status,
    statuses=STATUSES,
    RunStatus=RunStatus,
    style=Markup(STYLE),
    tz_script=Markup(TZ_SCRIPT),
    tz_label=TZ_LABEL,
    max_limit=MAX_LIMIT,
    max_rejects=MAX_REJECTS,
)
_ENV.globals.update(volume_colours=VOLUME_COLOURS, tz=TZ_NAME, checks=CHECKS)
_ENV.filters.update(limit=_limit)


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


def render_keys(rotations: list[dict[str, Any]], root: str = "", *, kids: list[dict[str, Any]] | None = None) -> str:
    return render("keys.html", root, rotations=rotations, kids=kids or [])
