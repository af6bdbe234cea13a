-- Small metrics-only batches (`log-metric`, autolog's per-epoch batches) are written by ONE statement
-- in autocommit mode: `INSERT INTO metric_points ...`. The trigger checks that the run is active,
-- adds the points and keeps the latest value per key, all inside that statement, so the write costs
-- one trip to sqlx's worker thread instead of five (BEGIN, check, insert, upsert, COMMIT).
-- A run that is missing or not active aborts the statement with the message below; the store then
-- reads the run to report which error applies. Nothing is written in that case.
CREATE VIEW metric_points AS
    SELECT run_uuid, key, step, timestamp, value, is_nan, dataset_name, dataset_digest, value_bits
    FROM metrics;

CREATE TRIGGER metric_points_insert INSTEAD OF INSERT ON metric_points
BEGIN
    SELECT RAISE(ABORT, 'cairn: run is not active')
    WHERE NOT EXISTS (
        SELECT 1 FROM runs WHERE run_uuid = NEW.run_uuid AND lifecycle_stage = 'active'
    );
    INSERT INTO metrics (run_uuid, key, step, timestamp, value, is_nan, dataset_name, dataset_digest,
                         value_bits)
    VALUES (NEW.run_uuid, NEW.key, NEW.step, NEW.timestamp, NEW.value, NEW.is_nan, NEW.dataset_name,
            NEW.dataset_digest, NEW.value_bits)
    ON CONFLICT DO NOTHING;
    INSERT INTO latest_metrics (run_uuid, key, step, timestamp, value, is_nan, dataset_name,
                                dataset_digest, value_bits)
    VALUES (NEW.run_uuid, NEW.key, NEW.step, NEW.timestamp, NEW.value, NEW.is_nan, NEW.dataset_name,
            NEW.dataset_digest, NEW.value_bits)
    ON CONFLICT (run_uuid, key) DO UPDATE SET step = excluded.step, timestamp = excluded.timestamp,
        value = excluded.value, is_nan = excluded.is_nan, model_id = NULL,
        dataset_name = excluded.dataset_name, dataset_digest = excluded.dataset_digest, value_bits = excluded.value_bits
    WHERE (excluded.step, excluded.timestamp, excluded.value) >
          (latest_metrics.step, latest_metrics.timestamp, latest_metrics.value);
END;
