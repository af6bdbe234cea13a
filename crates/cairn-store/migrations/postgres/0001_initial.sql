-- cairn metadata store, PostgreSQL schema v1: the SQLite schema (migrations/sqlite 0001-0005) in
-- PostgreSQL's types.
--
-- Conventions:
-- - Times are BIGINT milliseconds since the Unix epoch.
-- - Metric values: DOUBLE PRECISION holds NaN and ±Infinity exactly, but NaN is stored as value 0
--   with is_nan = TRUE, as in SQLite, so that one search compiler (and one NaN ordering) serves both.
-- - Tags and params carry a `seq` so that reads return them in insertion order.
-- - Experiment ids come from a sequence; the Default experiment is id 0.
-- - Text is COLLATE "C": ordering and comparisons are by code point, as in SQLite (and MLflow on
--   SQLite), whatever the database's locale; LIKE 'prefix%' can use the indexes.

CREATE TABLE experiments (
    experiment_id     BIGINT  PRIMARY KEY,
    name              TEXT COLLATE "C"    NOT NULL UNIQUE,
    artifact_location TEXT COLLATE "C"    NOT NULL,
    lifecycle_stage   TEXT COLLATE "C"    NOT NULL DEFAULT 'active',
    creation_time     BIGINT  NOT NULL,
    last_update_time  BIGINT  NOT NULL
);
CREATE SEQUENCE experiments_id_seq START WITH 1 OWNED BY experiments.experiment_id;
ALTER TABLE experiments ALTER COLUMN experiment_id SET DEFAULT nextval('experiments_id_seq');
CREATE INDEX experiments_creation ON experiments (creation_time DESC, experiment_id);

CREATE TABLE experiment_tags (
    seq           BIGSERIAL,
    experiment_id BIGINT NOT NULL REFERENCES experiments (experiment_id) ON DELETE CASCADE,
    key           TEXT COLLATE "C"   NOT NULL,
    value         TEXT COLLATE "C"   NOT NULL,
    PRIMARY KEY (experiment_id, key)
);

CREATE TABLE runs (
    run_uuid        TEXT COLLATE "C"   NOT NULL PRIMARY KEY,
    experiment_id   BIGINT NOT NULL REFERENCES experiments (experiment_id),
    name            TEXT COLLATE "C"   NOT NULL,
    user_id         TEXT COLLATE "C"   NOT NULL,
    status          TEXT COLLATE "C"   NOT NULL,
    start_time      BIGINT NOT NULL,
    end_time        BIGINT,
    artifact_uri    TEXT COLLATE "C"   NOT NULL,
    lifecycle_stage TEXT COLLATE "C"   NOT NULL DEFAULT 'active',
    deleted_time    BIGINT
);
CREATE INDEX runs_experiment ON runs (experiment_id, start_time DESC, run_uuid);

CREATE TABLE params (
    seq      BIGSERIAL,
    run_uuid TEXT COLLATE "C" NOT NULL REFERENCES runs (run_uuid) ON DELETE CASCADE,
    key      TEXT COLLATE "C" NOT NULL,
    value    TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (run_uuid, key)
);
CREATE INDEX params_key_value ON params (key, value);

CREATE TABLE tags (
    seq      BIGSERIAL,
    run_uuid TEXT COLLATE "C" NOT NULL REFERENCES runs (run_uuid) ON DELETE CASCADE,
    key      TEXT COLLATE "C" NOT NULL,
    value    TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (run_uuid, key)
);
CREATE INDEX tags_key_value ON tags (key, value);

-- Every observation. The primary key deduplicates identical points and is the history order.
-- No foreign key to runs: checking it costs as much per point as the primary key, and every write
-- checks in the same statement that the run exists and is active (runs are never hard-deleted).
CREATE TABLE metrics (
    run_uuid       TEXT COLLATE "C"             NOT NULL,
    key            TEXT COLLATE "C"             NOT NULL,
    step           BIGINT           NOT NULL,
    timestamp      BIGINT           NOT NULL,
    value          DOUBLE PRECISION NOT NULL,
    is_nan         BOOLEAN          NOT NULL,
    model_id       TEXT COLLATE "C",
    dataset_name   TEXT COLLATE "C",
    dataset_digest TEXT COLLATE "C",
    PRIMARY KEY (run_uuid, key, step, timestamp, value, is_nan)
);

-- The latest point per (run, key): max step, then max timestamp, then max value. Kept on write.
CREATE TABLE latest_metrics (
    run_uuid       TEXT COLLATE "C"             NOT NULL REFERENCES runs (run_uuid) ON DELETE CASCADE,
    key            TEXT COLLATE "C"             NOT NULL,
    step           BIGINT           NOT NULL,
    timestamp      BIGINT           NOT NULL,
    value          DOUBLE PRECISION NOT NULL,
    is_nan         BOOLEAN          NOT NULL,
    model_id       TEXT COLLATE "C",
    dataset_name   TEXT COLLATE "C",
    dataset_digest TEXT COLLATE "C",
    PRIMARY KEY (run_uuid, key)
);
CREATE INDEX latest_metrics_key_value ON latest_metrics (key, is_nan, value);

CREATE TABLE datasets (
    dataset_uuid  TEXT COLLATE "C"   NOT NULL PRIMARY KEY,
    experiment_id BIGINT NOT NULL REFERENCES experiments (experiment_id),
    name          TEXT COLLATE "C"   NOT NULL,
    digest        TEXT COLLATE "C"   NOT NULL,
    source_type   TEXT COLLATE "C"   NOT NULL,
    source        TEXT COLLATE "C"   NOT NULL,
    schema        TEXT COLLATE "C",
    profile       TEXT COLLATE "C",
    UNIQUE (experiment_id, name, digest)
);

CREATE TABLE run_dataset_inputs (
    seq          BIGSERIAL,
    run_uuid     TEXT COLLATE "C" NOT NULL REFERENCES runs (run_uuid) ON DELETE CASCADE,
    dataset_uuid TEXT COLLATE "C" NOT NULL REFERENCES datasets (dataset_uuid),
    PRIMARY KEY (run_uuid, dataset_uuid)
);
CREATE INDEX run_dataset_inputs_dataset ON run_dataset_inputs (dataset_uuid);

CREATE TABLE run_dataset_input_tags (
    seq          BIGSERIAL,
    run_uuid     TEXT COLLATE "C" NOT NULL,
    dataset_uuid TEXT COLLATE "C" NOT NULL,
    key          TEXT COLLATE "C" NOT NULL,
    value        TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (run_uuid, dataset_uuid, key),
    FOREIGN KEY (run_uuid, dataset_uuid)
        REFERENCES run_dataset_inputs (run_uuid, dataset_uuid) ON DELETE CASCADE
);

CREATE TABLE run_model_inputs (
    seq      BIGSERIAL,
    run_uuid TEXT COLLATE "C" NOT NULL REFERENCES runs (run_uuid) ON DELETE CASCADE,
    model_id TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (run_uuid, model_id)
);
CREATE INDEX run_model_inputs_model ON run_model_inputs (model_id);

CREATE TABLE run_model_outputs (
    seq      BIGSERIAL,
    run_uuid TEXT COLLATE "C"   NOT NULL REFERENCES runs (run_uuid) ON DELETE CASCADE,
    model_id TEXT COLLATE "C"   NOT NULL,
    step     BIGINT NOT NULL,
    PRIMARY KEY (run_uuid, model_id, step)
);

CREATE TABLE logged_models (
    model_id               TEXT COLLATE "C"   NOT NULL PRIMARY KEY,
    experiment_id          BIGINT NOT NULL REFERENCES experiments (experiment_id),
    name                   TEXT COLLATE "C"   NOT NULL,
    artifact_uri           TEXT COLLATE "C"   NOT NULL,
    creation_timestamp     BIGINT NOT NULL,
    last_updated_timestamp BIGINT NOT NULL,
    status                 TEXT COLLATE "C"   NOT NULL,
    status_message         TEXT COLLATE "C",
    model_type             TEXT COLLATE "C",
    source_run_id          TEXT COLLATE "C",
    lifecycle_stage        TEXT COLLATE "C"   NOT NULL DEFAULT 'active'
);
CREATE INDEX logged_models_experiment ON logged_models (experiment_id, creation_timestamp DESC);
CREATE INDEX logged_models_name ON logged_models (name);

CREATE TABLE logged_model_params (
    seq      BIGSERIAL,
    model_id TEXT COLLATE "C" NOT NULL REFERENCES logged_models (model_id) ON DELETE CASCADE,
    key      TEXT COLLATE "C" NOT NULL,
    value    TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (model_id, key)
);

CREATE TABLE logged_model_tags (
    seq      BIGSERIAL,
    model_id TEXT COLLATE "C" NOT NULL REFERENCES logged_models (model_id) ON DELETE CASCADE,
    key      TEXT COLLATE "C" NOT NULL,
    value    TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (model_id, key)
);

CREATE TABLE logged_model_metrics (
    model_id       TEXT COLLATE "C"             NOT NULL REFERENCES logged_models (model_id) ON DELETE CASCADE,
    key            TEXT COLLATE "C"             NOT NULL,
    step           BIGINT           NOT NULL,
    timestamp      BIGINT           NOT NULL,
    value          DOUBLE PRECISION NOT NULL,
    is_nan         BOOLEAN          NOT NULL,
    run_uuid       TEXT COLLATE "C"             NOT NULL,
    dataset_name   TEXT COLLATE "C",
    dataset_digest TEXT COLLATE "C",
    PRIMARY KEY (model_id, key, step, timestamp, value, is_nan, run_uuid)
);

CREATE TABLE registered_models (
    name              TEXT COLLATE "C"   NOT NULL PRIMARY KEY,
    creation_time     BIGINT NOT NULL,
    last_updated_time BIGINT NOT NULL,
    description       TEXT COLLATE "C",
    user_id           TEXT COLLATE "C"
);

CREATE TABLE registered_model_tags (
    seq   BIGSERIAL,
    name  TEXT COLLATE "C" NOT NULL REFERENCES registered_models (name) ON UPDATE CASCADE ON DELETE CASCADE,
    key   TEXT COLLATE "C" NOT NULL,
    value TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (name, key)
);

-- Deleted versions stay (current_stage 'Deleted_Internal') so that version numbers are never reused.
CREATE TABLE model_versions (
    name              TEXT COLLATE "C"   NOT NULL REFERENCES registered_models (name) ON UPDATE CASCADE ON DELETE CASCADE,
    version           BIGINT NOT NULL,
    creation_time     BIGINT NOT NULL,
    last_updated_time BIGINT NOT NULL,
    description       TEXT COLLATE "C",
    user_id           TEXT COLLATE "C",
    current_stage     TEXT COLLATE "C"   NOT NULL,
    source            TEXT COLLATE "C"   NOT NULL,
    run_id            TEXT COLLATE "C",
    run_link          TEXT COLLATE "C",
    status            TEXT COLLATE "C"   NOT NULL,
    status_message    TEXT COLLATE "C",
    model_id          TEXT COLLATE "C",
    PRIMARY KEY (name, version)
);
CREATE INDEX model_versions_run ON model_versions (run_id);

CREATE TABLE model_version_tags (
    seq     BIGSERIAL,
    name    TEXT COLLATE "C"   NOT NULL,
    version BIGINT NOT NULL,
    key     TEXT COLLATE "C"   NOT NULL,
    value   TEXT COLLATE "C"   NOT NULL,
    PRIMARY KEY (name, version, key),
    FOREIGN KEY (name, version)
        REFERENCES model_versions (name, version) ON UPDATE CASCADE ON DELETE CASCADE
);

CREATE TABLE registered_model_aliases (
    seq     BIGSERIAL,
    name    TEXT COLLATE "C"   NOT NULL REFERENCES registered_models (name) ON UPDATE CASCADE ON DELETE CASCADE,
    alias   TEXT COLLATE "C"   NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (name, alias)
);

-- Governance: policy revisions (the latest is in force) and the promotion audit log.
CREATE TABLE policies (
    revision     BIGSERIAL PRIMARY KEY,
    created_time BIGINT    NOT NULL,
    author       TEXT COLLATE "C"      NOT NULL,
    text         TEXT COLLATE "C"      NOT NULL
);

CREATE TABLE policy_decisions (
    id              BIGSERIAL PRIMARY KEY,
    time            BIGINT    NOT NULL,
    model_name      TEXT COLLATE "C"      NOT NULL,
    version         BIGINT    NOT NULL,
    target_kind     TEXT COLLATE "C"      NOT NULL,
    target          TEXT COLLATE "C"      NOT NULL,
    action          TEXT COLLATE "C"      NOT NULL,
    allowed         BOOLEAN   NOT NULL,
    user_id         TEXT COLLATE "C"      NOT NULL,
    policy_revision BIGINT,
    outcomes        TEXT COLLATE "C"      NOT NULL
);
CREATE INDEX policy_decisions_model ON policy_decisions (model_name, id);

-- Webhooks (MLflow's webhook API) and their deliveries: a durable outbox that workers drain.
CREATE TABLE webhooks (
    webhook_id             TEXT COLLATE "C"   PRIMARY KEY,
    -- Creation order: the tiebreak of "newest first" within one millisecond.
    seq                    BIGSERIAL,
    name                   TEXT COLLATE "C"   NOT NULL,
    description            TEXT COLLATE "C",
    url                    TEXT COLLATE "C"   NOT NULL,
    status                 TEXT COLLATE "C"   NOT NULL,
    secret                 TEXT COLLATE "C",
    creation_timestamp     BIGINT NOT NULL,
    last_updated_timestamp BIGINT NOT NULL,
    deleted_timestamp      BIGINT
);
CREATE INDEX webhooks_live ON webhooks (creation_timestamp, seq) WHERE deleted_timestamp IS NULL;

CREATE TABLE webhook_events (
    webhook_id TEXT COLLATE "C" NOT NULL REFERENCES webhooks (webhook_id) ON DELETE CASCADE,
    entity     TEXT COLLATE "C" NOT NULL,
    action     TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (webhook_id, entity, action)
);
CREATE INDEX webhook_events_event ON webhook_events (entity, action);

CREATE TABLE webhook_deliveries (
    seq               BIGSERIAL PRIMARY KEY,
    delivery_id       TEXT COLLATE "C"      NOT NULL UNIQUE,
    webhook_id        TEXT COLLATE "C"      NOT NULL REFERENCES webhooks (webhook_id) ON DELETE CASCADE,
    entity            TEXT COLLATE "C"      NOT NULL,
    action            TEXT COLLATE "C"      NOT NULL,
    payload           TEXT COLLATE "C"      NOT NULL,
    -- pending | succeeded | failed
    status            TEXT COLLATE "C"      NOT NULL,
    attempts          BIGINT    NOT NULL DEFAULT 0,
    -- When a pending delivery is next due (a claim pushes it forward by a lease).
    next_attempt_time BIGINT,
    last_status_code  BIGINT,
    last_error        TEXT COLLATE "C",
    created_time      BIGINT    NOT NULL,
    completed_time    BIGINT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_time)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, seq);

CREATE TABLE webhook_delivery_attempts (
    delivery_seq BIGINT NOT NULL REFERENCES webhook_deliveries (seq) ON DELETE CASCADE,
    attempt      BIGINT NOT NULL,
    time         BIGINT NOT NULL,
    duration_ms  BIGINT NOT NULL,
    status_code  BIGINT,
    error        TEXT COLLATE "C",
    PRIMARY KEY (delivery_seq, attempt)
);
