"""Airflow plugin: the leads-flow run report inside the Airflow UI.

- ``fastapi_apps``: the api-server mounts the report (``leads_flow.report``) at ``/leads-flow``, behind
  Airflow's own authentication (the UI's login cookie or a bearer token) and the permission to read
  leads_flow_sync's DAG runs.
- ``external_views``: a "Leads flow runs" entry in the UI's *Browse* menu that shows the list of recent
  partition runs inside the UI, and a "Leads flow report" tab on every DAG run page with that run's
  partitions.

The app is built on its first request (:class:`leads_flow.report.LazyApp`): every Airflow process imports
plugins, only the api-server serves them.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from leads_flow.report import REPORT_PREFIX, REPORT_UI_ROUTE, LazyApp, plugin_app

URL_PREFIX = REPORT_PREFIX  # alert links (leads_flow.notify.report_url) rely on both names


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
