-- OAuth2 clients (SPEC §11.2), registered by an administrator. The client_id is Tessera's (a random uuid); a
-- confidential client's secret is kept only as its SHA-256 digest. Lists (redirect URIs, grant types, the scope
-- ceiling of ACL entries) are jsonb arrays, as ACLs are.
CREATE TABLE oauth2_clients (
    client_id                 uuid PRIMARY KEY,
    name                      TEXT NOT NULL,
    confidential              BOOLEAN NOT NULL,
    secret_digest             bytea,
    redirect_uris             jsonb NOT NULL,
    post_logout_redirect_uris jsonb NOT NULL,
    grant_types               jsonb NOT NULL,
    scope                     jsonb NOT NULL,
    consent                   TEXT NOT NULL,
    created_at                timestamptz NOT NULL,
    search_text               TEXT NOT NULL,
    -- An upper bound of the client's own token rows (the client-credentials grant), so that a grant under the
    -- limit costs one counter update instead of a count (the users' session_bounds, 0008, do the same).
    tokens                    BIGINT NOT NULL DEFAULT 0
);
