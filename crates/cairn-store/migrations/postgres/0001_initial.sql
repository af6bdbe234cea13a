-- cairn metadata store, PostgreSQL schema v1: the SQLite schema (migrations/sqlite 0001-0005) in
-- PostgreSQL's types.
--
-- Conventions:
-- - Times are BIGINT milliseconds since the Unix epoch.
-- - Metric values: DOUBLE PRECISION holds NaN and ±Infinity exactly, but NaN is stored as value 0
--   with is_nan = TRUE, as in SQLite, so that one search compiler (and one NaN ordering) serves both.
-- - Tags and params carry a `seq` so that reads return them in insertion order.
-- - Experiment ids come from a sequence; the Default experiment is id 0.

CREATE TABLE experiments (
    experiment_id     BIGINT  PRIMARY KEY,
    name              TEXT    NOT NULL UNIQUE,
    artifact_location TEXT    NOT NULL,
    lifecycle_stage   TEXT    NOT NULL DEFAULT 'active',
    creation_time     BIGINT  NOT NULL,
    last_update_time  BIGINT  NOT NULL
);
CREATE SEQUENCE experiments_id_seq START WITH 1 OWNED BY experiments.experiment_id;
ALTER TABLE experiments ALTER COLUMN experiment_id SET DEFAULT nextval('experiments_id_seq');
CREATE INDEX experiments_creation ON experiments (creation_time DESC, experiment_id);

CREATE TABLE experiment_tags (
    seq           BIGSERIAL,
    experiment_id BIGINT NOT NULL REFERENCES experiments (experiment_id) ON DELETE CASCADE,
    key           TEXT   NOT NULL,
    value         TEXT   NOT NULL,
    PRIMARY KEY (experiment_id, key)
);

CREATE TABLE runs (
    run_uuid        TEXT   NOT NULL PRIMARY KEY,
    experiment_id   BIGINT NOT NULL REFERENCES experiments (experiment_id),
    name            TEXT   NOT NULL,
    user_id         TEXT   NOT NULL,
    status          TEXT   NOT NULL,
    start_time      BIGINT NOT NULL,
    end_time        BIGINT,
    artifact_uri    TEXT   NOT NULL,
    lifecycle_stage TEXT   NOT NULL DEFAULT 'active',
    deleted_time    BIGINT
);
CREATE INDEX runs_experiment ON runs (experiment_id, start_time DESC, run_uuid);

CREATE TABLE params (
    seq      BIGSERIAL,
    run_uuid TEXT NOT NULL REFERENCES runs (run_uuid) ON DELETE CASCADE,
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (run_uuid, key)
);
CREATE INDEX params_key_value ON params (key, value);

CREATE TABLE tags (
    seq      BIGSERIAL,
    run_uuid TEXT NOT NULL REFERENCES runs (run_uuid) ON DELETE CASCADE,
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (run_uuid, key)
);
CREATE INDEX tags_key_value ON tags (key, value);

-- Every observation. The primary key deduplicates identical points and is the history order.
CREATE TABLE metrics (
    run_uuid       TEXT             NOT NULL REFERENCES runs (run_uuid) ON DELETE CASCADE,
    key            TEXT             NOT NULL,
    step           BIGINT           NOT NULL,
    timestamp      BIGINT           NOT NULL,
    value          DOUBLE PRECISION NOT NULL,
    is_nan         BOOLEAN          NOT NULL,
    model_id       TEXT,
    dataset_name   TEXT,
    dataset_digest TEXT,
    PRIMARY KEY (run_uuid, key, step, timestamp, value, is_nan)
);

-- The latest point per (run, key): max step, then max timestamp, then max value. Kept on write.
CREATE TABLE latest_metrics (
    run_uuid       TEXT             NOT NULL REFERENCES runs (run_uuid) ON DELETE CASCADE,
    key            TEXT             NOT NULL,
    step           BIGINT           NOT NULL,
    timestamp      BIGINT           NOT NULL,
    value          DOUBLE PRECISION NOT NULL,
    is_nan         BOOLEAN          NOT NULL,
    model_id       TEXT,
    dataset_name   TEXT,
    dataset_digest TEXT,
    PRIMARY KEY (run_uuid, key)
);
CREATE INDEX latest_metrics_key_value ON latest_metrics (key, is_nan, value);

CREATE TABLE datasets (
    dataset_uuid  TEXT   NOT NULL PRIMARY KEY,
    experiment_id BIGINT NOT NULL REFERENCES experiments (experiment_id),
    name          TEXT   NOT NULL,
    digest        TEXT   NOT NULL,
    source_type   TEXT   NOT NULL,
    source        TEXT   NOT NULL,
    schema        TEXT,
    profile       TEXT,
    UNIQUE (experiment_id, name, digest)
);

CREATE TABLE run_dataset_inputs (
    seq          BIGSERIAL,
    run_uuid     TEXT NOT NULL REFERENCES runs (run_uuid) ON DELETE CASCADE,
    dataset_uuid TEXT NOT NULL REFERENCES datasets (dataset_uuid),
    PRIMARY KEY (run_uuid, dataset_uuid)
);
CREATE INDEX run_dataset_inputs_dataset ON run_dataset_inputs (dataset_uuid);

CREATE TABLE run_dataset_input_tags (
    seq          BIGSERIAL,
    run_uuid     TEXT NOT NULL,
    dataset_uuid TEXT NOT NULL,
    key          TEXT NOT NULL,
    value        TEXT NOT NULL,
    PRIMARY KEY (run_uuid, dataset_uuid, key),
    FOREIGN KEY (run_uuid, dataset_uuid)
        REFERENCES run_dataset_inputs (run_uuid, dataset_uuid) ON DELETE CASCADE
);

CREATE TABLE run_model_inputs (
    seq      BIGSERIAL,
    run_uuid TEXT NOT NULL REFERENCES runs (run_uuid) ON DELETE CASCADE,
    model_id TEXT NOT NULL,
    PRIMARY KEY (run_uuid, model_id)
);
CREATE INDEX run_model_inputs_model ON run_model_inputs (model_id);

CREATE TABLE run_model_outputs (
    seq      BIGSERIAL,
    run_uuid TEXT   NOT NULL REFERENCES runs (run_uuid) ON DELETE CASCADE,
    model_id TEXT   NOT NULL,
    step     BIGINT NOT NULL,
    PRIMARY KEY (run_uuid, model_id, step)
);

CREATE TABLE logged_models (
    model_id               TEXT   NOT NULL PRIMARY KEY,
    experiment_id          BIGINT NOT NULL REFERENCES experiments (experiment_id),
    name                   TEXT   NOT NULL,
    artifact_uri           TEXT   NOT NULL,
    creation_timestamp     BIGINT NOT NULL,
    last_updated_timestamp BIGINT NOT NULL,
    status                 TEXT   NOT NULL,
    status_message         TEXT,
    model_type             TEXT,
    source_run_id          TEXT,
    lifecycle_stage        TEXT   NOT NULL DEFAULT 'active'
);
CREATE INDEX logged_models_experiment ON logged_models (experiment_id, creation_timestamp DESC);
CREATE INDEX logged_models_name ON logged_models (name);

CREATE TABLE logged_model_params (
    seq      BIGSERIAL,
    model_id TEXT NOT NULL REFERENCES logged_models (model_id) ON DELETE CASCADE,
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (model_id, key)
);

CREATE TABLE logged_model_tags (
    seq      BIGSERIAL,
    model_id TEXT NOT NULL REFERENCES logged_models (model_id) ON DELETE CASCADE,
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (model_id, key)
);

CREATE TABLE logged_model_metrics (
    model_id       TEXT             NOT NULL REFERENCES logged_models (model_id) ON DELETE CASCADE,
    key            TEXT             NOT NULL,
    step           BIGINT           NOT NULL,
    timestamp      BIGINT           NOT NULL,
    value          DOUBLE PRECISION NOT NULL,
    is_nan         BOOLEAN          NOT NULL,
    run_uuid       TEXT             NOT NULL,
    dataset_name   TEXT,
    dataset_digest TEXT,
    PRIMARY KEY (model_id, key, step, timestamp, value, is_nan, run_uuid)
);

CREATE TABLE registered_models (
    name              TEXT   NOT NULL PRIMARY KEY,
    creation_time     BIGINT NOT NULL,
    last_updated_time BIGINT NOT NULL,
    description       TEXT,
    user_id           TEXT
);

CREATE TABLE registered_model_tags (
    seq   BIGSERIAL,
    name  TEXT NOT NULL REFERENCES registered_models (name) ON UPDATE CASCADE ON DELETE CASCADE,
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (name, key)
);

-- Deleted versions stay (current_stage 'Deleted_Internal') so that version numbers are never reused.
CREATE TABLE model_versions (
    name              TEXT   NOT NULL REFERENCES registered_models (name) ON UPDATE CASCADE ON DELETE CASCADE,
    version           BIGINT NOT NULL,
    creation_time     BIGINT NOT NULL,
    last_updated_time BIGINT NOT NULL,
    description       TEXT,
    user_id           TEXT,
    current_stage     TEXT   NOT NULL,
    source            TEXT   NOT NULL,
    run_id            TEXT,
    run_link          TEXT,
    status            TEXT   NOT NULL,
    status_message    TEXT,
    model_id          TEXT,
    PRIMARY KEY (name, version)
);
CREATE INDEX model_versions_run ON model_versions (run_id);

CREATE TABLE model_version_tags (
    seq     BIGSERIAL,
    name    TEXT   NOT NULL,
    version BIGINT NOT NULL,
    key     TEXT   NOT NULL,
    value   TEXT   NOT NULL,
    PRIMARY KEY (name, version, key),
    FOREIGN KEY (name, version)
        REFERENCES model_versions (name, version) ON UPDATE CASCADE ON DELETE CASCADE
);

CREATE TABLE registered_model_aliases (
    name    TEXT   NOT NULL REFERENCES registered_models (name) ON UPDATE CASCADE ON DELETE CASCADE,
    alias   TEXT   NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (name, alias)
);

-- Governance: policy revisions (the latest is in force) and the promotion audit log.
CREATE TABLE policies (
    revision     BIGSERIAL PRIMARY KEY,
    created_time BIGINT    NOT NULL,
    author       TEXT      NOT NULL,
    text         TEXT      NOT NULL
);

CREATE TABLE policy_decisions (
    id              BIGSERIAL PRIMARY KEY,
    time            BIGINT    NOT NULL,
    model_name      TEXT      NOT NULL,
    version         BIGINT    NOT NULL,
    target_kind     TEXT      NOT NULL,
    target          TEXT      NOT NULL,
    action          TEXT      NOT NULL,
    allowed         BOOLEAN   NOT NULL,
    user_id         TEXT      NOT NULL,
    policy_revision BIGINT,
    outcomes        TEXT      NOT NULL
);
CREATE INDEX policy_decisions_model ON policy_decisions (model_name, id);

-- Webhooks (MLflow's webhook API) and their deliveries: a durable outbox that workers drain.
CREATE TABLE webhooks (
    webhook_id             TEXT   PRIMARY KEY,
    name                   TEXT   NOT NULL,
    description            TEXT,
    url                    TEXT   NOT NULL,
    status                 TEXT   NOT NULL,
    secret                 TEXT,
    creation_timestamp     BIGINT NOT NULL,
    last_updated_timestamp BIGINT NOT NULL,
    deleted_timestamp      BIGINT
);
CREATE INDEX webhooks_live ON webhooks (creation_timestamp) WHERE deleted_timestamp IS NULL;

CREATE TABLE webhook_events (
    webhook_id TEXT NOT NULL REFERENCES webhooks (webhook_id) ON DELETE CASCADE,
    entity     TEXT NOT NULL,
    action     TEXT NOT NULL,
    PRIMARY KEY (webhook_id, entity, action)
);
CREATE INDEX webhook_events_event ON webhook_events (entity, action);

CREATE TABLE webhook_deliveries (
    seq               BIGSERIAL PRIMARY KEY,
    delivery_id       TEXT      NOT NULL UNIQUE,
    webhook_id        TEXT      NOT NULL REFERENCES webhooks (webhook_id) ON DELETE CASCADE,
    entity            TEXT      NOT NULL,
    action            TEXT      NOT NULL,
    payload           TEXT      NOT NULL,
    -- pending | succeeded | failed
    status            TEXT      NOT NULL,
    attempts          BIGINT    NOT NULL DEFAULT 0,
    -- When a pending delivery is next due (a claim pushes it forward by a lease).
    next_attempt_time BIGINT,
    last_status_code  BIGINT,
    last_error        TEXT,
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
    error        TEXT,
    PRIMARY KEY (delivery_seq, attempt)
);
