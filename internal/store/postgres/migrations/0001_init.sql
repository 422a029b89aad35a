-- Initial schema. Applied once, under an advisory lock, by postgres.Open.
CREATE TABLE connections (
    id              text PRIMARY KEY,
    name            text NOT NULL DEFAULT '',
    ghl_location_id text UNIQUE,
    ghl_company_id  text NOT NULL DEFAULT '',
    mapping         bytea,
    settings        jsonb NOT NULL DEFAULT '{}',
    status          text NOT NULL DEFAULT 'active',
    status_reason   text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);

-- Secrets are sealed with AES-GCM (internal/secrets) before they reach this table.
CREATE TABLE tokens (
    connection_id   text NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    kind            text NOT NULL,
    mode            text NOT NULL,
    access_sealed   text NOT NULL,
    refresh_sealed  text NOT NULL DEFAULT '',
    expiry          timestamptz,
    scope           text NOT NULL DEFAULT '',
    version         bigint NOT NULL,
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (connection_id, kind)
);

CREATE TABLE links (
    connection_id   text NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    id              text NOT NULL,
    ghl_contact_id  text,
    rz_contact_id   text,
    deleted         boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (connection_id, id),
    UNIQUE (connection_id, ghl_contact_id),
    UNIQUE (connection_id, rz_contact_id)
);

CREATE TABLE ledger (
    connection_id   text NOT NULL,
    link_id         text NOT NULL,
    object          text NOT NULL,
    snapshot        bytea,
    hash            text NOT NULL DEFAULT '',
    ghl_hash        text NOT NULL DEFAULT '',
    rz_hash         text NOT NULL DEFAULT '',
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (connection_id, link_id, object),
    FOREIGN KEY (connection_id, link_id) REFERENCES links(connection_id, id) ON DELETE CASCADE
);

CREATE TABLE inbox (
    id              bigserial PRIMARY KEY,
    dedupe_key      text NOT NULL UNIQUE,
    source          text NOT NULL,
    event_type      text NOT NULL,
    location_id     text NOT NULL DEFAULT '',
    body            bytea NOT NULL,
    received_at     timestamptz NOT NULL,
    state           text NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    claimed_by      text NOT NULL DEFAULT '',
    claimed_until   timestamptz,
    last_error      text NOT NULL DEFAULT '',
    note            text NOT NULL DEFAULT ''
);
CREATE INDEX inbox_due ON inbox (next_attempt_at, id) WHERE state = 'pending';

CREATE TABLE dead_letters (
    id              bigserial PRIMARY KEY,
    connection_id   text NOT NULL DEFAULT '',
    link_id         text NOT NULL DEFAULT '',
    workflow_id     text NOT NULL DEFAULT '',
    run_id          text NOT NULL DEFAULT '',
    kind            text NOT NULL,
    input           bytea,
    error           text NOT NULL DEFAULT '',
    state           text NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX dead_letters_by_conn ON dead_letters (connection_id, state, id);
