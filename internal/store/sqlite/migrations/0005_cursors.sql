-- Per-connection resume positions of scheduled work (the reconcile's HighLevel high-water
-- mark and rotating re-read cursors), as small JSON values.
CREATE TABLE cursors (
    connection_id TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    value         BLOB NOT NULL,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (connection_id, name)
);
