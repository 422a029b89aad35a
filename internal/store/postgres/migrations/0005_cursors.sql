-- Per-connection resume positions of scheduled work (the reconcile's HighLevel high-water
-- mark and rotating re-read cursors), as small JSON values.
CREATE TABLE cursors (
    connection_id text NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    name          text NOT NULL,
    value         bytea NOT NULL,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (connection_id, name)
);
