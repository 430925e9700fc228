"""Airflow plugin: the leads-flow run report inside the Airflow UI.

- ``fastapi_apps``: the api-server mounts the report (``leads_flow.report.views``) at ``/leads-flow``, behind
  Airflow's own authentication (the UI's login cookie or a bearer token). It shows the runs of this
  project's DAGs only (leads_flow_sync, leads_flow_reconcile), each to users allowed to read that DAG's
  runs (Airflow's auth manager, asked per DAG).
- ``external_views``: a "Leads flow runs" entry in the UI's *Browse* menu that shows the list of recent
  partition runs inside the UI, and a "Leads flow report" tab on every DAG run page with that run's
  partitions.

The app is built on its first request (:class:`leads_flow.report.views.LazyApp`): every Airflow process imports
plugins, only the api-server serves them.

Importing this module also marks the keyring's extra fields (``enc_keys``, ``bidx_keys``) as sensitive in
Airflow's secrets maskers, so that a process that loads plugins masks them even where
``[core] sensitive_var_conn_names`` was forgotten (docs/phone-protection.md, "Where the keys live"). The
setting remains the primary mechanism: set it wherever Airflow runs.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from leads_flow.names import REPORT_PREFIX, REPORT_UI_ROUTE
from leads_flow.report.views import LazyApp, plugin_app

URL_PREFIX = REPORT_PREFIX  # alert links (leads_flow.tasks.failure.report_url) rely on both names

KEYRING_SECRET_FIELDS = ("enc_keys", "bidx_keys")  # keys of the leads_pii / leads_pii_bidx extra


def mark_keyring_fields_sensitive() -> list[str]:
    """Add KEYRING_SECRET_FIELDS to the sensitive field names of Airflow's secrets maskers (core and SDK).

    The same effect as listing them in ``[core] sensitive_var_conn_names``, which Airflow reads once when it
    configures the maskers, before plugins are loaded. Like the setting, it has no effect when
    ``[core] hide_sensitive_var_conn_fields`` is False. Returns the modules whose masker changed.
    """
    import importlib

    changed = []
    for module in ("airflow._shared.secrets_masker", "airflow.sdk._shared.secrets_masker"):
        try:
            masker = importlib.import_module(module)._secrets_masker()
            fields = list(masker.sensitive_variables_fields)
        except (ImportError, AttributeError, TypeError):
            continue  # another Airflow layout: the setting alone applies
        missing = [f for f in KEYRING_SECRET_FIELDS if f not in fields]
        if missing:
            masker.sensitive_variables_fields = fields + missing
            changed.append(module)
    return changed


mark_keyring_fields_sensitive()


class LeadsFlowReportPlugin(AirflowPlugin):
    name = "leads_flow_report"
    fastapi_apps = [{"app": LazyApp(plugin_app), "url_prefix": URL_PREFIX, "name": "Leads flow runs"}]
    external_views = [
        {
            "name": "Leads flow runs",
            "href": f"{URL_PREFIX}/",
            "url_route": REPORT_UI_ROUTE,
            "destination": "nav",
            "category": "browse",
        },
        {
            "name": "Leads flow report",
            "href": f"{URL_PREFIX}/dag-runs/{{DAG_ID}}/{{RUN_ID}}",
            "url_route": "leads-flow-dag-run",
            "destination": "dag_run",
        },
    ]
