-- Why HighLevel refused a connection's refresh token ('' while it is usable). Set once, after
-- a re-read under the row lock shows nobody stored a newer token; every process then stops
-- calling the token endpoint for it. Writing a new token (a re-install) clears it.
ALTER TABLE tokens ADD COLUMN refresh_rejected TEXT NOT NULL DEFAULT '';
