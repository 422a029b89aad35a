-- Records read in bulk (backfill pages, poll pages), so the pass they trigger need not read
-- each person again.
CREATE TABLE observations (
    connection_id   text NOT NULL,
    side            text NOT NULL,
    contact_id      text NOT NULL,
    body            bytea NOT NULL,
    observed_at     timestamptz NOT NULL,
    PRIMARY KEY (connection_id, side, contact_id)
);

-- Normalised emails and E.164 phones per side, for matching people on first link.
CREATE TABLE match_keys (
    connection_id   text NOT NULL,
    side            text NOT NULL,
    key             text NOT NULL,
    contact_id      text NOT NULL,
    PRIMARY KEY (connection_id, side, key, contact_id)
);
