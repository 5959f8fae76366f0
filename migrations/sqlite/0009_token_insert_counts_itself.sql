-- A refresh grant is one statement (store::tokens::refresh_grant_statement). SQLite has no data-modifying WITH, so
-- what PostgreSQL's statement writes besides the token, this trigger writes, for every token inserted: the token
-- counts in its user's session bound (only limited users have one; migration 0008), and the refresh token it was
-- minted under is marked used. (`admit` therefore only checks the bound on SQLite: the insert raises it.)
CREATE TRIGGER tokens_count_and_mark_used AFTER INSERT ON tokens
BEGIN
    UPDATE session_bounds SET tokens = tokens + 1 WHERE user_uuid = NEW.auth_id;
    UPDATE refresh_tokens SET used_at = NEW.issued_at
        WHERE NEW.refresh_token_uuid IS NOT NULL AND uuid = NEW.refresh_token_uuid AND used_at < NEW.issued_at;
END;
