-- Records read in bulk (backfill pages, poll pages), so the pass they trigger need not read
-- each person again.
CREATE TABLE observations (
    connection_id   TEXT NOT NULL,
    side            TEXT NOT NULL,
    contact_id      TEXT NOT NULL,
    body            BLOB NOT NULL,
    observed_at     INTEGER NOT NULL,
    PRIMARY KEY (connection_id, side, contact_id)
);

-- Normalised emails and E.164 phones per side, for matching people on first link.
CREATE TABLE match_keys (
    connection_id   TEXT NOT NULL,
    side            TEXT NOT NULL,
    key             TEXT NOT NULL,
    contact_id      TEXT NOT NULL,
    PRIMARY KEY (connection_id, side, key, contact_id)
);
