"""The mail templates of the alerts (Jinja, rendered by the SMTP provider's notifier): they read only the masked
message that :func:`leads_flow.tasks.notify.send_alert` puts into the context."""

from __future__ import annotations

EMAIL_SUBJECT = "[leads-flow] {{ leads_flow_alert.dag_id }} {{ leads_flow_alert.task_id }} failed"


EMAIL_HTML = """<p><b>{{ leads_flow_alert.dag_id | e }}</b> task <b>{{ leads_flow_alert.task_id | e }}</b> failed.</p>
<table>
<tr><td>DAG run</td><td>{{ leads_flow_alert.run_id | e }}</td></tr>
<tr><td>Partition</td><td>{{ ((leads_flow_alert.partition.start ~ ' .. ' ~ leads_flow_alert.partition.end)
  if leads_flow_alert.partition else '-') | e }}</td></tr>
<tr><td>Partition run</td><td>{{ (leads_flow_alert.etl_run_id or '-') | e }}</td></tr>
<tr><td>Try</td><td>{{ leads_flow_alert.try_number or '-' }}</td></tr>
<tr><td>Reason</td><td><code>{{ leads_flow_alert.reason | e }}</code></td></tr>
</table>
<p><a href="{{ leads_flow_alert.report_url | e }}">Run report</a>
{% if leads_flow_alert.log_url %} · <a href="{{ leads_flow_alert.log_url | e }}">Task log</a>{% endif %}</p>"""


FRESHNESS_SUBJECT = "[leads-flow] partition {{ leads_flow_alert.partition.start[:10] }} not published by the deadline"


FRESHNESS_HTML = """<p>{{ leads_flow_alert.text | e }}</p>
<p><a href="{{ leads_flow_alert.report_url | e }}">Run report</a></p>"""
