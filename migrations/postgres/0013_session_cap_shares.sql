-- The session cap (max_user_concurrent_sessions) is counted in two shares: the sessions a password login opened
-- (online or offline) and the sessions a refresh grant minted. Each share has the whole cap, so a user holds at
-- most twice the cap; a refresh token's grants can fill only the grants' share and never make a password login 429.
-- tokens.refresh_grant says which share a session counts in. Existing sessions: those minted from a refresh token
-- count as grants, except an offline login's own (issued when its refresh token was created); a later offline
-- login of the same client_id counts as a grant too, which only leaves more room to password logins.
ALTER TABLE tokens ADD COLUMN refresh_grant BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE tokens SET refresh_grant = TRUE
    WHERE refresh_token_uuid IS NOT NULL
      AND issued_at <> COALESCE((SELECT r.created_at FROM refresh_tokens r WHERE r.uuid = tokens.refresh_token_uuid), -1);

-- One upper bound per share (migration 0008); NULL: not known yet, counted exactly at the next admission.
DROP TABLE session_bounds;
CREATE TABLE session_bounds (
    user_uuid TEXT PRIMARY KEY REFERENCES users (uuid) ON DELETE CASCADE,
    logins    BIGINT,
    grants    BIGINT
);
