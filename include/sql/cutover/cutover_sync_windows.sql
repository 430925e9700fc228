-- The reconcile run triggered by the sync's Asset (tasks/reconcile.py): the partitions one sync DAG run published.
SELECT partition_start, partition_end
  FROM leads_flow_run
 WHERE dag_id = :dag_id AND dag_run_id = :dag_run_id AND status = 'published'
