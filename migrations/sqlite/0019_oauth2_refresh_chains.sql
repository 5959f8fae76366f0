-- OAuth2 refresh tokens (SPEC §11): every authorization makes its own chain, so a (user, client_id) pair is
-- unique only among the wazo face's refresh tokens (`oauth2` false). A chain of an OAuth2 client is redeemed only
-- at /oauth2/token, and always rotates.
-- SQLite cannot drop a table's UNIQUE constraint: the table is rebuilt. Dropping it would cascade to the superseded
-- values that reference it, so both are copied out first and back after.
CREATE TEMP TABLE keep_refresh_tokens AS SELECT * FROM refresh_tokens;
CREATE TEMP TABLE keep_superseded_refresh_tokens AS SELECT * FROM superseded_refresh_tokens;
DROP TABLE superseded_refresh_tokens;
DROP TABLE refresh_tokens;
CREATE TABLE refresh_tokens (
    uuid        TEXT PRIMARY KEY,
    digest      BLOB NOT NULL UNIQUE,
    client_id   TEXT NOT NULL,
    user_uuid   TEXT NOT NULL REFERENCES users (uuid) ON DELETE CASCADE,
    tenant_uuid TEXT NOT NULL,
    mobile      INTEGER NOT NULL,
    created_at  BIGINT NOT NULL,
    login       TEXT NOT NULL,
    user_agent  TEXT NOT NULL,
    remote_addr TEXT NOT NULL,
    search_text TEXT NOT NULL,
    sealed      BLOB,
    scope       TEXT,
    generation  BIGINT NOT NULL DEFAULT 0,
    used_at     BIGINT NOT NULL DEFAULT 0,
    oauth2      INTEGER NOT NULL DEFAULT FALSE
);
INSERT INTO refresh_tokens (uuid, digest, client_id, user_uuid, tenant_uuid, mobile, created_at, login, user_agent,
                            remote_addr, search_text, sealed, scope, generation, used_at)
    SELECT uuid, digest, client_id, user_uuid, tenant_uuid, mobile, created_at, login, user_agent, remote_addr,
           search_text, sealed, scope, generation, used_at
    FROM keep_refresh_tokens;
CREATE UNIQUE INDEX refresh_tokens_one_per_wazo_client ON refresh_tokens (user_uuid, client_id) WHERE oauth2 = FALSE;
CREATE INDEX refresh_tokens_by_user_and_client ON refresh_tokens (user_uuid, client_id);
CREATE INDEX refresh_tokens_created_at ON refresh_tokens (created_at);
CREATE TABLE superseded_refresh_tokens (
    digest             BLOB PRIMARY KEY,
    refresh_token_uuid TEXT NOT NULL REFERENCES refresh_tokens (uuid) ON DELETE CASCADE,
    generation         BIGINT NOT NULL,
    superseded_at      BIGINT NOT NULL
);
INSERT INTO superseded_refresh_tokens (digest, refresh_token_uuid, generation, superseded_at)
    SELECT digest, refresh_token_uuid, generation, superseded_at FROM keep_superseded_refresh_tokens;
CREATE INDEX superseded_refresh_tokens_chain ON superseded_refresh_tokens (refresh_token_uuid, generation);
DROP TABLE keep_refresh_tokens;
DROP TABLE keep_superseded_refresh_tokens;
