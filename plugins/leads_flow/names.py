"""Names other teams, DAGs and pages rely on: connection ids, pools, tables, DAG ids, the sync's Asset, the drift
classes, the deployment's time zone and the report's routes. A contract: each is spelled here once."""

from __future__ import annotations

# --- connections and pools (docs/running.md) ----------------------------------------------------------------
LEGACY_CONN_ID = "leads_legacy"
FLOW_CONN_ID = "leads_flow"
PII_CONN_ID = "leads_pii"
LEGACY_WRITER_CONN_ID = "leads_legacy_writer"
"""The reverse export's own login on the legacy database (docs/cutover.md, step 5): the only writer there."""
LEGACY_POOL = "leads_legacy"

# --- tables ----------------------------------------------------------------------------------------------
LEGACY_TABLE = "leads_aggr"
FLOW_TABLE = "leads_flow"
REJECT_TABLE = "leads_flow_reject"
HISTORY_TABLE = "leads_flow_history"
DRIFT_TABLE = "leads_flow_drift"
RECONCILE_RUN_TABLE = "leads_flow_reconcile_run"

# --- DAGs and the Asset between them ------------------------------------------------------------------------
SYNC_DAG_ID = "leads_flow_sync"
RECONCILE_DAG_ID = "leads_flow_reconcile"
REKEY_DAG_ID = "leads_flow_rekey"
ERASE_DAG_ID = "leads_flow_erase"
HARD_DELETES_DAG_ID = "leads_flow_hard_deletes"
FRESHNESS_DAG_ID = "leads_flow_freshness"
REVERSE_EXPORT_DAG_ID = "leads_flow_reverse_export"
FLOW_ASSET_URI = "leads_flow://leads_flow/leads_flow"
"""The Asset leads_flow_sync's publish task updates; leads_flow_reconcile is scheduled on it."""

TZ_NAME = "Asia/Shanghai"
"""The deployment's time zone: legacy DATETIME columns are naive wall-clock time here, and days start here."""

# --- drift classes (leads_flow_drift.drift_class) --------------------------------------------------------------
MISSING_IN_FLOW = "missing_in_flow"
MISSING_IN_LEGACY = "missing_in_legacy"
FIELD_DRIFT = "field_drift"
PHONE_DRIFT = "phone_drift"
STALE_IN_FLOW = "stale_in_flow"
FLOW_AHEAD = "flow_ahead"
REJECTED_BY_RULE = "rejected_by_rule"
DRIFT_CLASSES = (
    MISSING_IN_FLOW,
    MISSING_IN_LEGACY,
    FIELD_DRIFT,
    PHONE_DRIFT,
    STALE_IN_FLOW,
    FLOW_AHEAD,
    REJECTED_BY_RULE,
)
BLOCKING = (MISSING_IN_FLOW, FIELD_DRIFT, PHONE_DRIFT, STALE_IN_FLOW, FLOW_AHEAD)
"""Classes that must have no open row for the range to be cutover-ready (docs/cutover.md)."""

# --- the run report ------------------------------------------------------------------------------------------
REPORT_PREFIX = "/leads-flow"
"""Where the run report plugin is mounted on the api-server (plugins/leads_flow_report.py)."""
REPORT_UI_ROUTE = "leads-flow-runs"
"""The report's page inside the Airflow UI: ``/plugin/<route>`` frames the report, ``/plugin/<route>/<path>``
opens ``<path>`` of it (after the UI's own login, if needed)."""
