-- Initial schema. Times are unix microseconds (UTC) so they sort and compare as integers.
CREATE TABLE connections (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL DEFAULT '',
    ghl_location_id TEXT UNIQUE,
    ghl_company_id  TEXT NOT NULL DEFAULT '',
    mapping         BLOB,
    settings        TEXT NOT NULL DEFAULT '{}',
    status          TEXT NOT NULL DEFAULT 'active',
    status_reason   TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

-- Secrets are sealed with AES-GCM (internal/secrets) before they reach this table.
CREATE TABLE tokens (
    connection_id   TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,
    mode            TEXT NOT NULL,
    access_sealed   TEXT NOT NULL,
    refresh_sealed  TEXT NOT NULL DEFAULT '',
    expiry          INTEGER,
    scope           TEXT NOT NULL DEFAULT '',
    version         INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (connection_id, kind)
);

CREATE TABLE links (
    connection_id   TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    id              TEXT NOT NULL,
    ghl_contact_id  TEXT,
    rz_contact_id   TEXT,
    deleted         INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (connection_id, id),
    UNIQUE (connection_id, ghl_contact_id),
    UNIQUE (connection_id, rz_contact_id)
);

CREATE TABLE ledger (
    connection_id   TEXT NOT NULL,
    link_id         TEXT NOT NULL,
    object          TEXT NOT NULL,
    snapshot        BLOB,
    hash            TEXT NOT NULL DEFAULT '',
    ghl_hash        TEXT NOT NULL DEFAULT '',
    rz_hash         TEXT NOT NULL DEFAULT '',
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (connection_id, link_id, object),
    FOREIGN KEY (connection_id, link_id) REFERENCES links(connection_id, id) ON DELETE CASCADE
);

CREATE TABLE inbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    dedupe_key      TEXT NOT NULL UNIQUE,
    source          TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    location_id     TEXT NOT NULL DEFAULT '',
    body            BLOB NOT NULL,
    received_at     INTEGER NOT NULL,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    claimed_by      TEXT NOT NULL DEFAULT '',
    claimed_until   INTEGER,
    last_error      TEXT NOT NULL DEFAULT '',
    note            TEXT NOT NULL DEFAULT ''
);
CREATE INDEX inbox_due ON inbox (state, next_attempt_at, id);

CREATE TABLE dead_letters (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    connection_id   TEXT NOT NULL DEFAULT '',
    link_id         TEXT NOT NULL DEFAULT '',
    workflow_id     TEXT NOT NULL DEFAULT '',
    run_id          TEXT NOT NULL DEFAULT '',
    kind            TEXT NOT NULL,
    input           BLOB,
    error           TEXT NOT NULL DEFAULT '',
    state           TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX dead_letters_by_conn ON dead_letters (connection_id, state, id);
