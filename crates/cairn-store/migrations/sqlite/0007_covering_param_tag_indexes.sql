-- Covering indexes for the two key/value tables a run search reads most: a `params.p = 'Y'`
-- filter tests (run, key, value) for every candidate run, and loading a page of runs reads every
-- (rowid, key, value) of each run. With the value in the index (and the rowid, which every SQLite
-- index carries), both are one index seek per run instead of a seek plus a table lookup.
-- The UNIQUE (run_uuid, key) constraints stay: they are what `ON CONFLICT` upserts against.
CREATE INDEX params_run_key_value ON params (run_uuid, key, value);
CREATE INDEX tags_run_key_value ON tags (run_uuid, key, value);
