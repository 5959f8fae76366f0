-- Scope-limited refresh tokens, their lifetimes and rotation.
-- scope: the refresh token's scope (a JSON list of ACL entries; NULL: unlimited), copied to every token
-- minted under it (tokens.scope), so that validation reads it with the token and joins nothing.
-- used_at: the last use (offline login or refresh grant), for refresh_token_idle_lifetime; for existing rows,
-- the issue of the last token still minted from them (else their creation).
-- generation: how many times the value was rotated; the value of generation g is derived from the key,
-- the row's uuid and g, so that a superseded value can answer its successor without storing it.
ALTER TABLE refresh_tokens ADD COLUMN scope TEXT;
ALTER TABLE refresh_tokens ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;
ALTER TABLE refresh_tokens ADD COLUMN used_at BIGINT NOT NULL DEFAULT 0;
UPDATE refresh_tokens SET used_at = COALESCE(
    (SELECT MAX(issued_at) FROM tokens WHERE tokens.refresh_token_uuid = refresh_tokens.uuid), created_at);
CREATE INDEX refresh_tokens_used_at ON refresh_tokens (used_at);
CREATE INDEX refresh_tokens_created_at ON refresh_tokens (created_at);
ALTER TABLE tokens ADD COLUMN scope TEXT;

-- The values a rotating refresh token had, by digest only: presented again within
-- refresh_token_reuse_grace they answer the current value; later, they revoke the chain.
CREATE TABLE superseded_refresh_tokens (
    digest             BLOB PRIMARY KEY,
    refresh_token_uuid TEXT NOT NULL REFERENCES refresh_tokens (uuid) ON DELETE CASCADE,
    generation         BIGINT NOT NULL,
    superseded_at      BIGINT NOT NULL
);
CREATE INDEX superseded_refresh_tokens_chain ON superseded_refresh_tokens (refresh_token_uuid, generation);
