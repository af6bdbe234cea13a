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

CREATE TRIGGER latest_metrics_lock_run BEFORE INSERT OR UPDATE OR DELETE ON latest_metrics
    FOR EACH ROW EXECUTE FUNCTION runs_lock_for_parts();
CREATE TRIGGER latest_metrics_rev_insert AFTER INSERT ON latest_metrics
    REFERENCING NEW TABLE AS changed_new FOR EACH STATEMENT EXECUTE FUNCTION runs_touch_rev();
CREATE TRIGGER latest_metrics_rev_update AFTER UPDATE ON latest_metrics
    REFERENCING NEW TABLE AS changed_new FOR EACH STATEMENT EXECUTE FUNCTION runs_touch_rev();
CREATE TRIGGER latest_metrics_rev_delete AFTER DELETE ON latest_metrics
    REFERENCING OLD TABLE AS changed_old FOR EACH STATEMENT EXECUTE FUNCTION runs_touch_rev();

CREATE TRIGGER params_lock_run BEFORE INSERT OR UPDATE OR DELETE ON params
    FOR EACH ROW EXECUTE FUNCTION runs_lock_for_parts();
CREATE TRIGGER params_rev_insert AFTER INSERT ON params
    REFERENCING NEW TABLE AS changed_new FOR EACH STATEMENT EXECUTE FUNCTION runs_touch_rev();
CREATE TRIGGER params_rev_update AFTER UPDATE ON params
    REFERENCING NEW TABLE AS changed_new FOR EACH STATEMENT EXECUTE FUNCTION runs_touch_rev();
CREATE TRIGGER params_rev_delete AFTER DELETE ON params
    REFERENCING OLD TABLE AS changed_old FOR EACH STATEMENT EXECUTE FUNCTION runs_touch_rev();

CREATE TRIGGER tags_lock_run BEFORE INSERT OR UPDATE OR DELETE ON tags
    FOR EACH ROW EXECUTE FUNCTION runs_lock_for_parts();
CREATE TRIGGER tags_rev_insert AFTER INSERT ON tags
    REFERENCING NEW TABLE AS changed_new FOR EACH STATEMENT EXECUTE FUNCTION runs_touch_rev();
CREATE TRIGGER tags_rev_update AFTER UPDATE ON tags
    REFERENCING NEW TABLE AS changed_new FOR EACH STATEMENT EXECUTE FUNCTION runs_touch_rev();
CREATE TRIGGER tags_rev_delete AFTER DELETE ON tags
    REFERENCING OLD TABLE AS changed_old FOR EACH STATEMENT EXECUTE FUNCTION runs_touch_rev();

CREATE TRIGGER run_dataset_inputs_lock_run BEFORE INSERT OR UPDATE OR DELETE ON run_dataset_inputs
    FOR EACH ROW EXECUTE FUNCTION runs_lock_for_parts();
CREATE TRIGGER run_dataset_inputs_rev_insert AFTER INSERT ON run_dataset_inputs
    REFERENCING NEW TABLE AS changed_new FOR EACH STATEMENT EXECUTE FUNCTION runs_touch_rev();
CREATE TRIGGER run_dataset_inputs_rev_update AFTER UPDATE ON run_dataset_inputs
    REFERENCING NEW TABLE AS changed_new FOR EACH STATEMENT EXECUTE FUNCTION runs_touch_rev();
CREATE TRIGGER run_dataset_inputs_rev_delete AFTER DELETE ON run_dataset_inputs
    REFERENCING OLD TABLE AS changed_old FOR EACH STATEMENT EXECUTE FUNCTION runs_touch_rev();

CREATE TRIGGER run_dataset_input_tags_lock_run BEFORE INSERT OR UPDATE OR DELETE ON run_dataset_input_tags
    FOR EACH ROW EXECUTE FUNCTION runs_lock_for_parts();
CREATE TRIGGER run_dataset_input_tags_rev_insert AFTER INSERT ON run_dataset_input_tags
    REFERENCING NEW TABLE AS changed_new FOR EACH STATEMENT EXECUTE FUNCTION runs_touch_rev();
CREATE TRIGGER run_dataset_input_tags_rev_update AFTER UPDATE ON run_dataset_input_tags
    REFERENCING NEW TABLE AS changed_new FOR EACH STATEMENT EXECUTE FUNCTION runs_touch_rev();
CREATE TRIGGER run_dataset_input_tags_rev_delete AFTER DELETE ON run_dataset_input_tags
    REFERENCING OLD TABLE AS changed_old FOR EACH STATEMENT EXECUTE FUNCTION runs_touch_rev();

CREATE TRIGGER run_model_inputs_lock_run BEFORE INSERT OR UPDATE OR DELETE ON run_model_inputs
    FOR EACH ROW EXECUTE FUNCTION runs_lock_for_parts();
CREATE TRIGGER run_model_inputs_rev_insert AFTER INSERT ON run_model_inputs
    REFERENCING NEW TABLE AS changed_new FOR EACH STATEMENT EXECUTE FUNCTION runs_touch_rev();
CREATE TRIGGER run_model_inputs_rev_update AFTER UPDATE ON run_model_inputs
    REFERENCING NEW TABLE AS changed_new FOR EACH STATEMENT EXECUTE FUNCTION runs_touch_rev();
CREATE TRIGGER run_model_inputs_rev_delete AFTER DELETE ON run_model_inputs
    REFERENCING OLD TABLE AS changed_old FOR EACH STATEMENT EXECUTE FUNCTION runs_touch_rev();

CREATE TRIGGER run_model_outputs_lock_run BEFORE INSERT OR UPDATE OR DELETE ON run_model_outputs
    FOR EACH ROW EXECUTE FUNCTION runs_lock_for_parts();
CREATE TRIGGER run_model_outputs_rev_insert AFTER INSERT ON run_model_outputs
    REFERENCING NEW TABLE AS changed_new FOR EACH STATEMENT EXECUTE FUNCTION runs_touch_rev();
CREATE TRIGGER run_model_outputs_rev_update AFTER UPDATE ON run_model_outputs
    REFERENCING NEW TABLE AS changed_new FOR EACH STATEMENT EXECUTE FUNCTION runs_touch_rev();
CREATE TRIGGER run_model_outputs_rev_delete AFTER DELETE ON run_model_outputs
    REFERENCING OLD TABLE AS changed_old FOR EACH STATEMENT EXECUTE FUNCTION runs_touch_rev();
