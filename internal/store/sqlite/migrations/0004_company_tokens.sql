-- An agency's (HighLevel company's) OAuth token, from an install on the agency. Location tokens
-- of its bulk-installed locations are obtained from it (POST /oauth/locationToken). Sealed
-- like tokens; refresh_rejected as there.
CREATE TABLE company_tokens (
    company_id       TEXT PRIMARY KEY,
    mode             TEXT NOT NULL,
    access_sealed    TEXT NOT NULL,
    refresh_sealed   TEXT NOT NULL DEFAULT '',
    expiry           INTEGER,
    scope            TEXT NOT NULL DEFAULT '',
    version          INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    refresh_rejected TEXT NOT NULL DEFAULT ''
);
