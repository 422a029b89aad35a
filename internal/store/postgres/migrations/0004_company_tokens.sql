-- An agency's (HighLevel company's) OAuth token, from an install on the agency. Location tokens
-- of its bulk-installed locations are obtained from it (POST /oauth/locationToken). Sealed
-- like tokens; refresh_rejected as there.
CREATE TABLE company_tokens (
    company_id       text PRIMARY KEY,
    mode             text NOT NULL,
    access_sealed    text NOT NULL,
    refresh_sealed   text NOT NULL DEFAULT '',
    expiry           timestamptz,
    scope            text NOT NULL DEFAULT '',
    version          bigint NOT NULL,
    updated_at       timestamptz NOT NULL,
    refresh_rejected text NOT NULL DEFAULT ''
);
