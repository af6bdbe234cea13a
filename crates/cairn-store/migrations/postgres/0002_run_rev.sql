-- Every run carries `rev`, a value that changes whenever anything of the run changes: its row
-- (name, status, end time, lifecycle stage...), its latest metrics, params, tags, dataset inputs
-- (and their tags), model inputs and outputs. A search reads it with the run's row and reuses the
-- run it loaded before while the value is the same (the store's run cache, `run_cache.rs`), so a
-- repeated search loads only the runs that changed; every replica sees the same value. Values come
-- from a sequence: a run deleted and written again under the same id cannot meet an old entry.
--
-- Triggers keep it, so every writer keeps it:
-- - an update of the run's row takes a new value in the same row (before each row);
-- - after each statement on a part table, one UPDATE per run the statement touched (transition
--   tables), not one per row;
-- - before each row of a part table, a lock on the run's row (`FOR NO KEY UPDATE`), so that every
--   writer of a run locks the run first and the rows second. Without it, a transaction that has
--   bumped the run (and holds its row) could wait for a tag row that a second transaction holds
--   while that one waits for the run: a deadlock the bump alone would bring in. The lock does not
--   conflict with the `KEY SHARE` locks foreign keys take.
--
-- The row lock of the UPDATE is what makes the value safe to cache: two writers of one run commit
-- one after the other, and a snapshot that shows the last value shows both writes.
CREATE SEQUENCE run_rev;
ALTER TABLE runs ADD COLUMN rev BIGINT NOT NULL DEFAULT nextval('run_rev');

CREATE FUNCTION runs_new_rev() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.rev := nextval('run_rev');
    RETURN NEW;
END
$$;

CREATE TRIGGER runs_rev_update BEFORE UPDATE OF experiment_id, name, user_id, status, start_time, end_time, artifact_uri, lifecycle_stage, deleted_time ON runs
    FOR EACH ROW EXECUTE FUNCTION runs_new_rev();

CREATE FUNCTION runs_lock_for_parts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM 1 FROM runs WHERE run_uuid = OLD.run_uuid FOR NO KEY UPDATE;
        RETURN OLD;
    END IF;
    PERFORM 1 FROM runs WHERE run_uuid = NEW.run_uuid FOR NO KEY UPDATE;
    RETURN NEW;
END
$$;

CREATE FUNCTION runs_touch_rev() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        UPDATE runs SET rev = nextval('run_rev')
        WHERE run_uuid IN (SELECT DISTINCT run_uuid FROM changed_old);
    ELSE
        UPDATE runs SET rev = nextval('run_rev')
        WHERE run_uuid IN (SELECT DISTINCT run_uuid FROM changed_new);
    END IF;
    RETURN NULL;
END
$$;

-- The triggers on each part table.
DO $$
DECLARE
    part TEXT;
BEGIN
    FOREACH part IN ARRAY ARRAY['latest_metrics', 'params', 'tags', 'run_dataset_inputs',
                                'run_dataset_input_tags', 'run_model_inputs', 'run_model_outputs']
    LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE INSERT OR UPDATE OR DELETE ON %I '
                       'FOR EACH ROW EXECUTE FUNCTION runs_lock_for_parts()',
                       part || '_lock_run', part);
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %I REFERENCING NEW TABLE AS changed_new '
                       'FOR EACH STATEMENT EXECUTE FUNCTION runs_touch_rev()',
                       part || '_rev_insert', part);
        EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON %I REFERENCING NEW TABLE AS changed_new '
                       'FOR EACH STATEMENT EXECUTE FUNCTION runs_touch_rev()',
                       part || '_rev_update', part);
        EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON %I REFERENCING OLD TABLE AS changed_old '
                       'FOR EACH STATEMENT EXECUTE FUNCTION runs_touch_rev()',
                       part || '_rev_delete', part);
    END LOOP;
END
$$;
