"""Reconcile leads_aggr with leads_flow: model, compare, verdict, repair, summary (tasks in leads_flow.tasks.reconcile)."""
