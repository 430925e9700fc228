-- Volume check (quality.check_volume): the published partitions of the same DAG as this partition run,
-- from :since up to (not including) its own partition, with their extracted rows; newest first, the latest
-- publish of a partition first. The caller keeps the same weekday and one row per partition.
SELECT h.partition_start, h.extracted
  FROM leads_flow_run cur
  JOIN leads_flow_run h ON h.dag_id = cur.dag_id
 WHERE cur.etl_run_id = :etl_run_id
   AND h.status = :published
   AND h.extracted IS NOT NULL
   AND h.partition_start >= :since
   AND h.partition_start < cur.partition_start
 ORDER BY h.partition_start DESC, h.finished_at DESC
