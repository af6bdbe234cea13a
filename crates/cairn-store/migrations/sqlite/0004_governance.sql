-- Governance: policy revisions (the latest is in force) and the promotion audit log.
CREATE TABLE policies (
    revision     INTEGER PRIMARY KEY AUTOINCREMENT,
    created_time INTEGER NOT NULL,
    author       TEXT    NOT NULL,
    text         TEXT    NOT NULL
);

CREATE TABLE policy_decisions (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    time            INTEGER NOT NULL,
    model_name      TEXT    NOT NULL,
    version         INTEGER NOT NULL,
    target_kind     TEXT    NOT NULL,
    target          TEXT    NOT NULL,
    action          TEXT    NOT NULL,
    allowed         INTEGER NOT NULL,
    user_id         TEXT    NOT NULL,
    policy_revision INTEGER,
    outcomes        TEXT    NOT NULL
);
CREATE INDEX policy_decisions_model ON policy_decisions (model_name, id);

-- Runs that consumed a logged model, for lineage's downstream walk.
CREATE INDEX IF NOT EXISTS run_model_inputs_model ON run_model_inputs (model_id);
