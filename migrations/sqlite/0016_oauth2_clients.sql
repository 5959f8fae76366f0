-- OAuth2 clients (SPEC §11.2), registered by an administrator. The client_id is Tessera's (a random uuid); a
-- confidential client's secret is kept only as its SHA-256 digest. Lists (redirect URIs, grant types, the scope
-- ceiling of ACL entries) are JSON arrays, as ACLs are. (No 0015 here: PostgreSQL's 0015 has no SQLite twin.)
CREATE TABLE oauth2_clients (
    client_id                 TEXT PRIMARY KEY,
    name                      TEXT NOT NULL,
    confidential              INTEGER NOT NULL,
    secret_digest             BLOB,
    redirect_uris             TEXT NOT NULL,
    post_logout_redirect_uris TEXT NOT NULL,
    grant_types               TEXT NOT NULL,
    scope                     TEXT NOT NULL,
    consent                   TEXT NOT NULL,
    created_at                BIGINT NOT NULL,
    search_text               TEXT NOT NULL,
    -- An upper bound of the client's own token rows (the client-credentials grant), so that a grant under the
    -- limit costs one counter update instead of a count (the users' session_bounds, 0008, do the same).
    tokens                    BIGINT NOT NULL DEFAULT 0
);

-- A client's own token (the client-credentials grant) has the client as its subject (auth_id), which is no user:
-- tokens lose their foreign key to users, as on PostgreSQL since its 0009. Deleting a user deletes its tokens
-- itself (and writers take turns, so no token of a user being deleted is written meanwhile). SQLite cannot drop a
-- constraint: the table is rebuilt, with its indexes, the sessions view and the insert trigger of 0013.
DROP VIEW sessions;
DROP TRIGGER tokens_count_and_mark_used;
CREATE TABLE tokens_without_user_key (
    digest             BLOB PRIMARY KEY,
    session_uuid       TEXT NOT NULL UNIQUE,
    auth_id            TEXT NOT NULL,
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
    search_text        TEXT NOT NULL,
    refresh_grant      INTEGER NOT NULL DEFAULT 0
);
INSERT INTO tokens_without_user_key (digest, session_uuid, auth_id, tenant_uuid, mobile, issued_at, expires_at, acl,
                                     metadata, remote_addr, user_agent, client_id, refresh_token_uuid, scope,
                                     search_text, refresh_grant)
    SELECT digest, session_uuid, auth_id, tenant_uuid, mobile, issued_at, expires_at, acl, metadata, remote_addr,
           user_agent, client_id, refresh_token_uuid, scope, search_text, refresh_grant
    FROM tokens;
DROP TABLE tokens;
ALTER TABLE tokens_without_user_key RENAME TO tokens;
CREATE INDEX tokens_expires_at ON tokens (expires_at);
CREATE INDEX tokens_auth_id_expires_at ON tokens (auth_id, expires_at);
CREATE VIEW sessions AS
    SELECT session_uuid AS uuid, auth_id AS user_uuid, tenant_uuid, mobile, issued_at AS created_at, user_agent,
           remote_addr, client_id, search_text
    FROM tokens;
CREATE TRIGGER tokens_count_and_mark_used AFTER INSERT ON tokens
BEGIN
    UPDATE session_bounds SET logins = logins + 1 - NEW.refresh_grant, grants = grants + NEW.refresh_grant
        WHERE user_uuid = NEW.auth_id;
    UPDATE refresh_tokens SET used_at = NEW.issued_at
        WHERE NEW.refresh_token_uuid IS NOT NULL AND uuid = NEW.refresh_token_uuid AND used_at < NEW.issued_at;
END;
