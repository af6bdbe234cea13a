-- Webhooks (MLflow's webhook API) and their deliveries: a durable outbox that a worker drains.
CREATE TABLE webhooks (
    webhook_id             TEXT    PRIMARY KEY,
    name                   TEXT    NOT NULL,
    description            TEXT,
    url                    TEXT    NOT NULL,
    status                 TEXT    NOT NULL,
    secret                 TEXT,
    creation_timestamp     INTEGER NOT NULL,
    last_updated_timestamp INTEGER NOT NULL,
    deleted_timestamp      INTEGER
);
CREATE INDEX webhooks_live ON webhooks (creation_timestamp) WHERE deleted_timestamp IS NULL;

CREATE TABLE webhook_events (
    webhook_id TEXT NOT NULL REFERENCES webhooks (webhook_id) ON DELETE CASCADE,
    entity     TEXT NOT NULL,
    action     TEXT NOT NULL,
    PRIMARY KEY (webhook_id, entity, action)
);
-- Who subscribes to an event: the enqueue lookup.
CREATE INDEX webhook_events_event ON webhook_events (entity, action);

CREATE TABLE webhook_deliveries (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id       TEXT    NOT NULL UNIQUE,
    webhook_id        TEXT    NOT NULL REFERENCES webhooks (webhook_id) ON DELETE CASCADE,
    entity            TEXT    NOT NULL,
    action            TEXT    NOT NULL,
    payload           TEXT    NOT NULL,
    -- pending | succeeded | failed
    status            TEXT    NOT NULL,
    attempts          INTEGER NOT NULL DEFAULT 0,
    -- When a pending delivery is next due (a claim pushes it forward by a lease).
    next_attempt_time INTEGER,
    last_status_code  INTEGER,
    last_error        TEXT,
    created_time      INTEGER NOT NULL,
    completed_time    INTEGER
);
-- The "due" lookup: only pending deliveries are indexed.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_time)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, seq);

CREATE TABLE webhook_delivery_attempts (
    delivery_seq INTEGER NOT NULL REFERENCES webhook_deliveries (seq) ON DELETE CASCADE,
    attempt      INTEGER NOT NULL,
    time         INTEGER NOT NULL,
    duration_ms  INTEGER NOT NULL,
    status_code  INTEGER,
    error        TEXT,
    PRIMARY KEY (delivery_seq, attempt)
);
