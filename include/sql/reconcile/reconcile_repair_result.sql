UPDATE leads_flow_drift
   SET repair_etl_run_id = ?, repaired_at = ?, repair_result = ?
 WHERE reconcile_run_id = ? AND window_start = ? AND lead_id = ?
