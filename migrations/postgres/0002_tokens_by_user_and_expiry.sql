-- The session limit counts a user's live tokens: (auth_id, expires_at) lets that count read only the
-- live ones, and serves every lookup the auth_id index served.
CREATE INDEX tokens_auth_id_expires_at ON tokens (auth_id, expires_at);
DROP INDEX tokens_auth_id;
