-- Sign-in through a browser (SPEC §11.3): browser sessions, remembered consents and authorization codes. Values
-- (session cookies, codes) are kept only as SHA-256 digests. Each row goes with its user and its client.

-- A browser session: the cookie's digest, its user, when they signed in, and a fingerprint of the password they
-- signed in with (a password change ends the session: it no longer matches).
CREATE TABLE oauth2_browser_sessions (
    digest         bytea PRIMARY KEY,
    user_uuid      uuid NOT NULL REFERENCES users (uuid) ON DELETE CASCADE,
    auth_time      timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    password_stamp bytea NOT NULL
);
CREATE INDEX oauth2_browser_sessions_by_user ON oauth2_browser_sessions (user_uuid);
CREATE INDEX oauth2_browser_sessions_by_expiry ON oauth2_browser_sessions (expires_at);

-- What a user allowed a client: the scope values (OpenID Connect scopes and ACL entries).
CREATE TABLE oauth2_consents (
    user_uuid  uuid NOT NULL REFERENCES users (uuid) ON DELETE CASCADE,
    client_id  uuid NOT NULL REFERENCES oauth2_clients (client_id) ON DELETE CASCADE,
    scope      jsonb NOT NULL,
    granted_at timestamptz NOT NULL,
    PRIMARY KEY (user_uuid, client_id)
);
CREATE INDEX oauth2_consents_by_client ON oauth2_consents (client_id);

-- An authorization code, bound to its client, redirect URI (NULL when the request named none), PKCE challenge,
-- scope and nonce. `session_uuid` is the session its redemption minted, and `refresh_uuid` the refresh-token chain
-- it may have started: set once, so that a second redemption finds it used and ends what the first one issued.
-- `replayed` tells a first redemption still minting that a second one came (it then ends what it minted).
CREATE TABLE oauth2_codes (
    digest          bytea PRIMARY KEY,
    client_id       uuid NOT NULL REFERENCES oauth2_clients (client_id) ON DELETE CASCADE,
    user_uuid       uuid NOT NULL REFERENCES users (uuid) ON DELETE CASCADE,
    redirect_uri    TEXT,
    code_challenge  TEXT NOT NULL,
    scope           jsonb NOT NULL,
    nonce           TEXT,
    browser_session bytea NOT NULL,
    auth_time       timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    session_uuid    TEXT,
    refresh_uuid    TEXT,
    replayed        BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX oauth2_codes_by_expiry ON oauth2_codes (expires_at);
CREATE INDEX oauth2_codes_by_client ON oauth2_codes (client_id);
CREATE INDEX oauth2_codes_by_user ON oauth2_codes (user_uuid);
CREATE INDEX oauth2_codes_by_session ON oauth2_codes (session_uuid);
CREATE INDEX oauth2_codes_by_browser_session ON oauth2_codes (browser_session);
