-- Tessera schema (SQLite). Tokens are stored only as SHA-256 digests; times are epoch microseconds (BIGINT).
-- Booleans are INTEGER 0/1 here: sqlx's Any driver cannot map SQLite's BOOLEAN type.
CREATE TABLE tenants (
    uuid        TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    parent_uuid TEXT NOT NULL
);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE users (
    uuid                  TEXT PRIMARY KEY,
    tenant_uuid           TEXT NOT NULL REFERENCES tenants (uuid),
    username              TEXT,
    firstname             TEXT,
    lastname              TEXT,
    password_hash         TEXT,
    purpose               TEXT NOT NULL,
    enabled               INTEGER NOT NULL,
    authentication_method TEXT NOT NULL,
    created_at            BIGINT NOT NULL,
    -- Lower-cased in Rust (Unicode-aware on both stores, unlike SQLite's lower()).
    username_key          TEXT,
    search_text           TEXT NOT NULL
);
CREATE UNIQUE INDEX users_username_key ON users (username_key);

CREATE TABLE emails (
    uuid      TEXT PRIMARY KEY,
    user_uuid TEXT NOT NULL REFERENCES users (uuid) ON DELETE CASCADE,
    address   TEXT NOT NULL,
    main      INTEGER NOT NULL,
    confirmed INTEGER NOT NULL,
    address_key TEXT NOT NULL
);
CREATE UNIQUE INDEX emails_address_key ON emails (address_key);
CREATE INDEX emails_user ON emails (user_uuid);

CREATE TABLE policies (
    uuid        TEXT PRIMARY KEY,
    tenant_uuid TEXT NOT NULL REFERENCES tenants (uuid),
    name        TEXT NOT NULL,
    slug        TEXT NOT NULL,
    description TEXT,
    acl         TEXT NOT NULL,
    read_only   INTEGER NOT NULL,
    shared      INTEGER NOT NULL,
    name_key    TEXT NOT NULL,
    search_text TEXT NOT NULL
);
CREATE UNIQUE INDEX policies_tenant_name ON policies (tenant_uuid, name_key);
CREATE UNIQUE INDEX policies_slug ON policies (slug);

CREATE TABLE user_policies (
    user_uuid   TEXT NOT NULL REFERENCES users (uuid) ON DELETE CASCADE,
    policy_uuid TEXT NOT NULL REFERENCES policies (uuid) ON DELETE CASCADE,
    position    BIGINT NOT NULL,
    PRIMARY KEY (user_uuid, policy_uuid)
);
CREATE INDEX user_policies_policy ON user_policies (policy_uuid);

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
    UNIQUE (user_uuid, client_id)
);

CREATE TABLE sessions (
    uuid        TEXT PRIMARY KEY,
    user_uuid   TEXT NOT NULL REFERENCES users (uuid) ON DELETE CASCADE,
    tenant_uuid TEXT NOT NULL,
    mobile      INTEGER NOT NULL,
    created_at  BIGINT NOT NULL,
    user_agent  TEXT NOT NULL,
    remote_addr TEXT NOT NULL,
    client_id   TEXT,
    search_text TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_uuid);

CREATE TABLE tokens (
    digest             BLOB PRIMARY KEY,
    session_uuid       TEXT NOT NULL REFERENCES sessions (uuid) ON DELETE CASCADE,
    auth_id            TEXT NOT NULL,
    issued_at          BIGINT NOT NULL,
    expires_at         BIGINT NOT NULL,
    acl                TEXT NOT NULL,
    metadata           TEXT NOT NULL,
    remote_addr        TEXT NOT NULL,
    user_agent         TEXT NOT NULL,
    refresh_token_uuid TEXT REFERENCES refresh_tokens (uuid) ON DELETE SET NULL
);
CREATE INDEX tokens_expires_at ON tokens (expires_at);
CREATE INDEX tokens_session ON tokens (session_uuid);
CREATE INDEX tokens_auth_id ON tokens (auth_id);
CREATE INDEX tokens_refresh_token ON tokens (refresh_token_uuid);
