-- Unexpected: a join_time missing or outside [{min}, {max}].
SELECT lead_id FROM {batch}
 WHERE join_time IS NULL OR join_time < '{min}' OR join_time > '{max}'
