-- The session cap (max_user_concurrent_sessions) is counted in two shares: the sessions a password login opened
-- (online or offline) and the sessions a refresh grant minted. Each share has the whole cap, so a user holds at
-- most twice the cap; a refresh token's grants can fill only the grants' share and never make a password login 429.
-- tokens.refresh_grant says which share a session counts in. Existing sessions: those minted from a refresh token
-- count as grants, except an offline login's own (issued when its refresh token was created); a later offline
-- login of the same client_id counts as a grant too, which only leaves more room to password logins.
ALTER TABLE tokens ADD COLUMN refresh_grant INTEGER NOT NULL DEFAULT 0;
UPDATE tokens SET refresh_grant = 1
    WHERE refresh_token_uuid IS NOT NULL
      AND issued_at <> COALESCE((SELECT r.created_at FROM refresh_tokens r WHERE r.uuid = tokens.refresh_token_uuid), -1);

-- One upper bound per share (migration 0008); NULL: not known yet, counted exactly at the next admission (NULL + 1
-- stays NULL). The trigger of migration 0009 counts each token in its own share.
DROP TRIGGER tokens_count_and_mark_used;
DROP TABLE session_bounds;
CREATE TABLE session_bounds (
    user_uuid TEXT PRIMARY KEY REFERENCES users (uuid) ON DELETE CASCADE,
    logins    BIGINT,
    grants    BIGINT
);
CREATE TRIGGER tokens_count_and_mark_used AFTER INSERT ON tokens
BEGIN
    UPDATE session_bounds SET logins = logins + 1 - NEW.refresh_grant, grants = grants + NEW.refresh_grant
        WHERE user_uuid = NEW.auth_id;
    UPDATE refresh_tokens SET used_at = NEW.issued_at
        WHERE NEW.refresh_token_uuid IS NOT NULL AND uuid = NEW.refresh_token_uuid AND used_at < NEW.issued_at;
END;
