-- One row per session. A session always had exactly one token, so its columns move into `tokens` and a
-- grant writes one row (with 4 indexes) where it wrote two (with 7). `sessions` stays as a view, for reads.
-- tokens.refresh_token_uuid loses its index and foreign key: the tokens of a refresh token are found through
-- their user (auth_id), and a grant locks the refresh token's row itself (FOR KEY SHARE, or its update).
-- refresh_tokens.used_at loses its index, so that marking a refresh token used is a HOT update; the purge of
-- idle refresh tokens reads the (small) table.
CREATE TABLE tokens_by_session (
    digest             BLOB PRIMARY KEY,
    session_uuid       TEXT NOT NULL UNIQUE,
    auth_id            TEXT NOT NULL REFERENCES users (uuid) ON DELETE CASCADE,
    tenant_uuid        TEXT NOT NULL,
    mobile             INTEGER NOT NULL,
    issued_at          BIGINT NOT NULL,
    expires_at         BIGINT NOT NULL,
    acl                TEXT NOT NULL,
    metadata           TEXT NOT NULL,
    remote_addr        TEXT NOT NULL,
    user_agent         TEXT NOT NULL,
    client_id          TEXT,
    refresh_token_uuid TEXT,
    scope              TEXT,
    search_text        TEXT NOT NULL
);
INSERT INTO tokens_by_session (digest, session_uuid, auth_id, tenant_uuid, mobile, issued_at, expires_at, acl,
                               metadata, remote_addr, user_agent, client_id, refresh_token_uuid, scope,
                               search_text)
    SELECT t.digest, t.session_uuid, s.user_uuid, s.tenant_uuid, s.mobile, t.issued_at, t.expires_at, t.acl,
           t.metadata, t.remote_addr, t.user_agent, s.client_id, t.refresh_token_uuid, t.scope, s.search_text
    FROM tokens t JOIN sessions s ON s.uuid = t.session_uuid;
DROP TABLE tokens;
DROP TABLE sessions;
ALTER TABLE tokens_by_session RENAME TO tokens;
CREATE INDEX tokens_expires_at ON tokens (expires_at);
CREATE INDEX tokens_auth_id_expires_at ON tokens (auth_id, expires_at);
CREATE VIEW sessions AS
    SELECT session_uuid AS uuid, auth_id AS user_uuid, tenant_uuid, mobile, issued_at AS created_at, user_agent,
           remote_addr, client_id, search_text
    FROM tokens;
DROP INDEX refresh_tokens_used_at;

-- An upper bound of each limited user's token rows (live or expired, not yet purged), so that a grant under
-- the session limit costs one counter update instead of a count. A grant adds 1 while the bound is under the
-- limit; at the limit (or with no row) the grant counts exactly under the row's lock and resets the bound.
-- Deleting tokens leaves the bound high, never low: it stays an upper bound.
CREATE TABLE session_bounds (
    user_uuid TEXT PRIMARY KEY REFERENCES users (uuid) ON DELETE CASCADE,
    tokens    BIGINT NOT NULL
);

