-- The write of a token for a user with a session limit, in one round trip: the user's lock, then the
-- count of their live sessions, then the refresh token's use (a refresh grant) and the session with its
-- token. Each statement of a VOLATILE function takes a new snapshot, so the count sees every token
-- committed before the lock was granted: the limit is exact. (One plain statement would not be: its
-- snapshot predates the lock.) Answers 'issued', 'session_limit' or 'superseded' (the refresh token is no
-- longer at p_generation); only 'issued' writes anything. Called as its own statement, outside any
-- transaction: the lock is held until that statement commits.
CREATE FUNCTION tessera_issue_limited(
    p_lock BIGINT, p_limit BIGINT, p_refresh_uuid TEXT, p_generation BIGINT,
    p_session_uuid TEXT, p_user_uuid TEXT, p_tenant_uuid TEXT, p_mobile BOOLEAN, p_now BIGINT,
    p_user_agent TEXT, p_remote_addr TEXT, p_client_id TEXT, p_search_text TEXT,
    p_digest BYTEA, p_expires_at BIGINT, p_acl TEXT, p_metadata TEXT, p_scope TEXT)
RETURNS TEXT LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    live BIGINT;
BEGIN
    PERFORM pg_advisory_xact_lock(p_lock);
    -- Counting stops at the limit: a user's thousands of tokens cost no more than p_limit.
    SELECT COUNT(*) INTO live FROM (SELECT 1 FROM tokens
        WHERE auth_id = p_user_uuid AND expires_at > p_now LIMIT p_limit) AS l;
    IF live >= p_limit THEN
        RETURN 'session_limit';
    END IF;
    IF p_refresh_uuid IS NOT NULL THEN
        UPDATE refresh_tokens SET used_at = p_now WHERE uuid = p_refresh_uuid AND generation = p_generation;
        IF NOT FOUND THEN
            RETURN 'superseded';
        END IF;
    END IF;
    INSERT INTO sessions (uuid, user_uuid, tenant_uuid, mobile, created_at, user_agent, remote_addr,
                          client_id, search_text)
        VALUES (p_session_uuid, p_user_uuid, p_tenant_uuid, p_mobile, p_now, p_user_agent, p_remote_addr,
                p_client_id, p_search_text);
    INSERT INTO tokens (digest, session_uuid, auth_id, issued_at, expires_at, acl, metadata, remote_addr,
                        user_agent, refresh_token_uuid, scope)
        VALUES (p_digest, p_session_uuid, p_user_uuid, p_now, p_expires_at, p_acl, p_metadata,
                p_remote_addr, p_user_agent, p_refresh_uuid, p_scope);
    RETURN 'issued';
END $$;
