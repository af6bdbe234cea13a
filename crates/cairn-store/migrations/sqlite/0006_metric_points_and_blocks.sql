-- Two things kept on write, so that the hot paths read and write less.
--
-- 1. `metric_blocks`: per 256-step block of each metric, the point with the least and the one with
--    the greatest value (NaN left out). A chart of a long history reads these instead of every
--    point: a million points are ~4,000 blocks. Ties keep the point that was there first.
--
-- 2. The `metric_points` view: small metrics-only batches (`log-metric`, autolog's per-epoch
--    batches) are written by ONE statement in autocommit mode, `INSERT INTO metric_points ...`.
--    Its trigger checks that the run is active, adds the points, keeps the latest value per key and
--    the blocks, all inside that statement: one trip to sqlx's worker thread instead of five
--    (BEGIN, check, insert, upsert, COMMIT). A run that is missing or not active aborts the
--    statement with the message below (nothing is written); the store then reads the run to report
--    which error applies.

CREATE TABLE metric_blocks (
    run_uuid      TEXT    NOT NULL,
    key           TEXT    NOT NULL,
    block         INTEGER NOT NULL,
    min_step      INTEGER NOT NULL,
    min_timestamp INTEGER NOT NULL,
    min_value     REAL    NOT NULL,
    min_bits      INTEGER,
    max_step      INTEGER NOT NULL,
    max_timestamp INTEGER NOT NULL,
    max_value     REAL    NOT NULL,
    max_bits      INTEGER,
    PRIMARY KEY (run_uuid, key, block)
) WITHOUT ROWID;

-- The points already stored: the least per block (SQLite takes the bare columns from the row min()
-- chose), then the greatest.
INSERT INTO metric_blocks (run_uuid, key, block, min_step, min_timestamp, min_value, min_bits,
                           max_step, max_timestamp, max_value, max_bits)
SELECT run_uuid, key, step >> 8, step, timestamp, min(value), value_bits, step, timestamp, value, value_bits
FROM metrics WHERE is_nan = 0 GROUP BY run_uuid, key, step >> 8;

UPDATE metric_blocks SET (max_step, max_timestamp, max_value, max_bits) = (
    SELECT step, timestamp, max(value), value_bits FROM metrics m
    WHERE m.run_uuid = metric_blocks.run_uuid AND m.key = metric_blocks.key AND m.is_nan = 0
      AND m.step BETWEEN metric_blocks.block * 256 AND metric_blocks.block * 256 + 255
);

CREATE VIEW metric_points AS
    SELECT run_uuid, key, step, timestamp, value, is_nan, model_id, dataset_name, dataset_digest,
           value_bits
    FROM metrics;

CREATE TRIGGER metric_points_insert INSTEAD OF INSERT ON metric_points
BEGIN
    SELECT RAISE(ABORT, 'cairn: run is not active')
    WHERE NOT EXISTS (
        SELECT 1 FROM runs WHERE run_uuid = NEW.run_uuid AND lifecycle_stage = 'active'
    );
    INSERT INTO metrics (run_uuid, key, step, timestamp, value, is_nan, model_id, dataset_name,
                         dataset_digest, value_bits)
    VALUES (NEW.run_uuid, NEW.key, NEW.step, NEW.timestamp, NEW.value, NEW.is_nan, NEW.model_id,
            NEW.dataset_name, NEW.dataset_digest, NEW.value_bits)
    ON CONFLICT DO NOTHING;
    INSERT INTO latest_metrics (run_uuid, key, step, timestamp, value, is_nan, model_id, dataset_name,
                                dataset_digest, value_bits)
    VALUES (NEW.run_uuid, NEW.key, NEW.step, NEW.timestamp, NEW.value, NEW.is_nan, NEW.model_id,
            NEW.dataset_name, NEW.dataset_digest, NEW.value_bits)
    ON CONFLICT (run_uuid, key) DO UPDATE SET step = excluded.step, timestamp = excluded.timestamp,
        value = excluded.value, is_nan = excluded.is_nan, model_id = excluded.model_id,
        dataset_name = excluded.dataset_name, dataset_digest = excluded.dataset_digest,
        value_bits = excluded.value_bits
    WHERE (excluded.step, excluded.timestamp, excluded.value) >
          (latest_metrics.step, latest_metrics.timestamp, latest_metrics.value);
    INSERT INTO metric_blocks (run_uuid, key, block, min_step, min_timestamp, min_value, min_bits,
                               max_step, max_timestamp, max_value, max_bits)
    SELECT NEW.run_uuid, NEW.key, NEW.step >> 8, NEW.step, NEW.timestamp, NEW.value, NEW.value_bits,
           NEW.step, NEW.timestamp, NEW.value, NEW.value_bits
    WHERE NEW.is_nan = 0
    ON CONFLICT (run_uuid, key, block) DO UPDATE SET
        min_step = CASE WHEN excluded.min_value < min_value THEN excluded.min_step ELSE min_step END,
        min_timestamp = CASE WHEN excluded.min_value < min_value THEN excluded.min_timestamp ELSE min_timestamp END,
        min_bits = CASE WHEN excluded.min_value < min_value THEN excluded.min_bits ELSE min_bits END,
        min_value = min(min_value, excluded.min_value),
        max_step = CASE WHEN excluded.max_value > max_value THEN excluded.max_step ELSE max_step END,
        max_timestamp = CASE WHEN excluded.max_value > max_value THEN excluded.max_timestamp ELSE max_timestamp END,
        max_bits = CASE WHEN excluded.max_value > max_value THEN excluded.max_bits ELSE max_bits END,
        max_value = max(max_value, excluded.max_value);
END;
