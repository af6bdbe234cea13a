-- cairn metadata store, SQLite schema v1.
--
-- Conventions:
-- - Times are integer milliseconds since the Unix epoch.
-- - Metric values: NaN is stored as value 0 with is_nan = 1 (SQLite REAL cannot hold NaN);
--   ±Infinity is stored as is.
-- - Tag and param tables keep their rowid so that reads return them in insertion order.

CREATE TABLE experiments (
    experiment_id     INTEGER PRIMARY KEY,
    name              TEXT    NOT NULL UNIQUE,
    artifact_location TEXT    NOT NULL,
    lifecycle_stage   TEXT    NOT NULL DEFAULT 'active',
    creation_time     INTEGER NOT NULL,
    last_update_time  INTEGER NOT NULL
);
CREATE INDEX experiments_creation ON experiments (creation_time DESC, experiment_id);

CREATE TABLE experiment_tags (
    experiment_id INTEGER NOT NULL REFERENCES experiments (experiment_id) ON DELETE CASCADE,
    key           TEXT    NOT NULL,
    value         TEXT    NOT NULL,
    UNIQUE (experiment_id, key)
);

CREATE TABLE runs (
    run_uuid        TEXT    NOT NULL PRIMARY KEY,
    experiment_id   INTEGER NOT NULL REFERENCES experiments (experiment_id),
    name            TEXT    NOT NULL,
    user_id         TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    start_time      INTEGER NOT NULL,
    end_time        INTEGER,
    artifact_uri    TEXT    NOT NULL,
    lifecycle_stage TEXT    NOT NULL DEFAULT 'active',
    deleted_time    INTEGER
);
CREATE INDEX runs_experiment ON runs (experiment_id, start_time DESC, run_uuid);

CREATE TABLE params (
    run_uuid TEXT NOT NULL REFERENCES runs (run_uuid) ON DELETE CASCADE,
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    UNIQUE (run_uuid, key)
);
CREATE INDEX params_key_value ON params (key, value);

CREATE TABLE tags (
    run_uuid TEXT NOT NULL REFERENCES runs (run_uuid) ON DELETE CASCADE,
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    UNIQUE (run_uuid, key)
);
CREATE INDEX tags_key_value ON tags (key, value);

-- Every observation. The primary key deduplicates identical points and is the history order.
CREATE TABLE metrics (
    run_uuid       TEXT    NOT NULL REFERENCES runs (run_uuid) ON DELETE CASCADE,
    key            TEXT    NOT NULL,
    step           INTEGER NOT NULL,
    timestamp      INTEGER NOT NULL,
    value          REAL    NOT NULL,
    is_nan         INTEGER NOT NULL,
    model_id       TEXT,
    dataset_name   TEXT,
    dataset_digest TEXT,
    PRIMARY KEY (run_uuid, key, step, timestamp, value, is_nan)
) WITHOUT ROWID;

-- The latest point per (run, key): max step, then max timestamp, then max value. Kept on write.
CREATE TABLE latest_metrics (
    run_uuid       TEXT    NOT NULL REFERENCES runs (run_uuid) ON DELETE CASCADE,
    key            TEXT    NOT NULL,
    step           INTEGER NOT NULL,
    timestamp      INTEGER NOT NULL,
    value          REAL    NOT NULL,
    is_nan         INTEGER NOT NULL,
    model_id       TEXT,
    dataset_name   TEXT,
    dataset_digest TEXT,
    PRIMARY KEY (run_uuid, key)
) WITHOUT ROWID;
CREATE INDEX latest_metrics_key_value ON latest_metrics (key, is_nan, value);

CREATE TABLE datasets (
    dataset_uuid  TEXT    NOT NULL PRIMARY KEY,
    experiment_id INTEGER NOT NULL REFERENCES experiments (experiment_id),
    name          TEXT    NOT NULL,
    digest        TEXT    NOT NULL,
    source_type   TEXT    NOT NULL,
    source        TEXT    NOT NULL,
    schema        TEXT,
    profile       TEXT,
    UNIQUE (experiment_id, name, digest)
);

CREATE TABLE run_dataset_inputs (
    run_uuid     TEXT NOT NULL REFERENCES runs (run_uuid) ON DELETE CASCADE,
    dataset_uuid TEXT NOT NULL REFERENCES datasets (dataset_uuid),
    UNIQUE (run_uuid, dataset_uuid)
);
CREATE INDEX run_dataset_inputs_dataset ON run_dataset_inputs (dataset_uuid);

CREATE TABLE run_dataset_input_tags (
    run_uuid     TEXT NOT NULL,
    dataset_uuid TEXT NOT NULL,
    key          TEXT NOT NULL,
    value        TEXT NOT NULL,
    UNIQUE (run_uuid, dataset_uuid, key),
    FOREIGN KEY (run_uuid, dataset_uuid)
        REFERENCES run_dataset_inputs (run_uuid, dataset_uuid) ON DELETE CASCADE
);

CREATE TABLE run_model_inputs (
    run_uuid TEXT NOT NULL REFERENCES runs (run_uuid) ON DELETE CASCADE,
    model_id TEXT NOT NULL,
    UNIQUE (run_uuid, model_id)
);

CREATE TABLE run_model_outputs (
    run_uuid TEXT    NOT NULL REFERENCES runs (run_uuid) ON DELETE CASCADE,
    model_id TEXT    NOT NULL,
    step     INTEGER NOT NULL,
    UNIQUE (run_uuid, model_id, step)
);

CREATE TABLE logged_models (
    model_id               TEXT    NOT NULL PRIMARY KEY,
    experiment_id          INTEGER NOT NULL REFERENCES experiments (experiment_id),
    name                   TEXT    NOT NULL,
    artifact_uri           TEXT    NOT NULL,
    creation_timestamp     INTEGER NOT NULL,
    last_updated_timestamp INTEGER NOT NULL,
    status                 TEXT    NOT NULL,
    status_message         TEXT,
    model_type             TEXT,
    source_run_id          TEXT,
    lifecycle_stage        TEXT    NOT NULL DEFAULT 'active'
);
CREATE INDEX logged_models_experiment ON logged_models (experiment_id, creation_timestamp DESC);
CREATE INDEX logged_models_name ON logged_models (name);

CREATE TABLE logged_model_params (
    model_id TEXT NOT NULL REFERENCES logged_models (model_id) ON DELETE CASCADE,
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    UNIQUE (model_id, key)
);

CREATE TABLE logged_model_tags (
    model_id TEXT NOT NULL REFERENCES logged_models (model_id) ON DELETE CASCADE,
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    UNIQUE (model_id, key)
);

CREATE TABLE logged_model_metrics (
    model_id       TEXT    NOT NULL REFERENCES logged_models (model_id) ON DELETE CASCADE,
    key            TEXT    NOT NULL,
    step           INTEGER NOT NULL,
    timestamp      INTEGER NOT NULL,
    value          REAL    NOT NULL,
    is_nan         INTEGER NOT NULL,
    run_uuid       TEXT    NOT NULL,
    dataset_name   TEXT,
    dataset_digest TEXT,
    PRIMARY KEY (model_id, key, step, timestamp, value, is_nan, run_uuid)
) WITHOUT ROWID;

CREATE TABLE registered_models (
    name              TEXT    NOT NULL PRIMARY KEY,
    creation_time     INTEGER NOT NULL,
    last_updated_time INTEGER NOT NULL,
    description       TEXT,
    user_id           TEXT
);

CREATE TABLE registered_model_tags (
    name  TEXT NOT NULL REFERENCES registered_models (name) ON UPDATE CASCADE ON DELETE CASCADE,
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    UNIQUE (name, key)
);

-- Deleted versions stay (current_stage 'Deleted_Internal') so that version numbers are never reused.
CREATE TABLE model_versions (
    name              TEXT    NOT NULL REFERENCES registered_models (name) ON UPDATE CASCADE ON DELETE CASCADE,
    version           INTEGER NOT NULL,
    creation_time     INTEGER NOT NULL,
    last_updated_time INTEGER NOT NULL,
    description       TEXT,
    user_id           TEXT,
    current_stage     TEXT    NOT NULL,
    source            TEXT    NOT NULL,
    run_id            TEXT,
    run_link          TEXT,
    status            TEXT    NOT NULL,
    status_message    TEXT,
    model_id          TEXT,
    PRIMARY KEY (name, version)
);
CREATE INDEX model_versions_run ON model_versions (run_id);

CREATE TABLE model_version_tags (
    name    TEXT    NOT NULL,
    version INTEGER NOT NULL,
    key     TEXT    NOT NULL,
    value   TEXT    NOT NULL,
    UNIQUE (name, version, key),
    FOREIGN KEY (name, version)
        REFERENCES model_versions (name, version) ON UPDATE CASCADE ON DELETE CASCADE
);

CREATE TABLE registered_model_aliases (
    name    TEXT    NOT NULL REFERENCES registered_models (name) ON UPDATE CASCADE ON DELETE CASCADE,
    alias   TEXT    NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (name, alias)
);
