-- PostgreSQL's own types, in place: uuids as `uuid`, times as `timestamptz`, ACLs, scopes and token metadata as
-- `jsonb` (digests were `bytea` already), so that an operator can write `WHERE expires_at < now()` or join on a uuid.
-- Epoch microseconds convert exactly (timestamptz keeps microseconds). The brute-force bookkeeping (login_failures,
-- trusted_logins) keeps its counters and delays as numbers. (No 0014 here: SQLite's 0014 has no PostgreSQL twin.)

-- What names the converted columns goes first, and comes back at the end: the sessions view, the joined-ACL
-- triggers and their functions, and the foreign keys (both sides of each change type together).
DROP VIEW sessions;
DROP TRIGGER user_policies_join_acl ON user_policies;
DROP TRIGGER policies_join_acl ON policies;
DROP FUNCTION tessera_join_user_acl();
DROP FUNCTION tessera_user_acl(TEXT);
ALTER TABLE users DROP CONSTRAINT users_tenant_uuid_fkey;
ALTER TABLE policies DROP CONSTRAINT policies_tenant_uuid_fkey;
ALTER TABLE emails DROP CONSTRAINT emails_user_uuid_fkey;
ALTER TABLE user_policies DROP CONSTRAINT user_policies_user_uuid_fkey,
                          DROP CONSTRAINT user_policies_policy_uuid_fkey;
ALTER TABLE refresh_tokens DROP CONSTRAINT refresh_tokens_user_uuid_fkey;
ALTER TABLE superseded_refresh_tokens DROP CONSTRAINT superseded_refresh_tokens_refresh_token_uuid_fkey;
ALTER TABLE session_bounds DROP CONSTRAINT session_bounds_user_uuid_fkey;

CREATE FUNCTION pg_temp.at(micros BIGINT) RETURNS timestamptz LANGUAGE sql IMMUTABLE AS $$
    SELECT TIMESTAMPTZ 'epoch' + micros * INTERVAL '1 microsecond'
$$;

ALTER TABLE tenants
    ALTER COLUMN uuid TYPE uuid USING uuid::uuid,
    ALTER COLUMN parent_uuid TYPE uuid USING parent_uuid::uuid;
ALTER TABLE users ALTER COLUMN acl DROP DEFAULT;
ALTER TABLE users
    ALTER COLUMN uuid TYPE uuid USING uuid::uuid,
    ALTER COLUMN tenant_uuid TYPE uuid USING tenant_uuid::uuid,
    ALTER COLUMN created_at TYPE timestamptz USING pg_temp.at(created_at),
    ALTER COLUMN acl TYPE jsonb USING acl::jsonb;
ALTER TABLE users ALTER COLUMN acl SET DEFAULT '[]'::jsonb;
ALTER TABLE emails
    ALTER COLUMN uuid TYPE uuid USING uuid::uuid,
    ALTER COLUMN user_uuid TYPE uuid USING user_uuid::uuid;
ALTER TABLE policies
    ALTER COLUMN uuid TYPE uuid USING uuid::uuid,
    ALTER COLUMN tenant_uuid TYPE uuid USING tenant_uuid::uuid,
    ALTER COLUMN acl TYPE jsonb USING acl::jsonb;
ALTER TABLE user_policies
    ALTER COLUMN user_uuid TYPE uuid USING user_uuid::uuid,
    ALTER COLUMN policy_uuid TYPE uuid USING policy_uuid::uuid;
ALTER TABLE refresh_tokens ALTER COLUMN used_at DROP DEFAULT;
ALTER TABLE refresh_tokens
    ALTER COLUMN uuid TYPE uuid USING uuid::uuid,
    ALTER COLUMN user_uuid TYPE uuid USING user_uuid::uuid,
    ALTER COLUMN tenant_uuid TYPE uuid USING tenant_uuid::uuid,
    ALTER COLUMN created_at TYPE timestamptz USING pg_temp.at(created_at),
    ALTER COLUMN used_at TYPE timestamptz USING pg_temp.at(used_at),
    ALTER COLUMN scope TYPE jsonb USING scope::jsonb;
ALTER TABLE superseded_refresh_tokens
    ALTER COLUMN refresh_token_uuid TYPE uuid USING refresh_token_uuid::uuid,
    ALTER COLUMN superseded_at TYPE timestamptz USING pg_temp.at(superseded_at);
ALTER TABLE tokens
    ALTER COLUMN session_uuid TYPE uuid USING session_uuid::uuid,
    ALTER COLUMN auth_id TYPE uuid USING auth_id::uuid,
    ALTER COLUMN tenant_uuid TYPE uuid USING tenant_uuid::uuid,
    ALTER COLUMN refresh_token_uuid TYPE uuid USING refresh_token_uuid::uuid,
    ALTER COLUMN issued_at TYPE timestamptz USING pg_temp.at(issued_at),
    ALTER COLUMN expires_at TYPE timestamptz USING pg_temp.at(expires_at),
    ALTER COLUMN acl TYPE jsonb USING acl::jsonb,
    ALTER COLUMN metadata TYPE jsonb USING metadata::jsonb,
    ALTER COLUMN scope TYPE jsonb USING scope::jsonb;
ALTER TABLE session_bounds ALTER COLUMN user_uuid TYPE uuid USING user_uuid::uuid;

ALTER TABLE users ADD CONSTRAINT users_tenant_uuid_fkey FOREIGN KEY (tenant_uuid) REFERENCES tenants (uuid);
ALTER TABLE policies ADD CONSTRAINT policies_tenant_uuid_fkey FOREIGN KEY (tenant_uuid) REFERENCES tenants (uuid);
ALTER TABLE emails ADD CONSTRAINT emails_user_uuid_fkey
    FOREIGN KEY (user_uuid) REFERENCES users (uuid) ON DELETE CASCADE;
ALTER TABLE user_policies
    ADD CONSTRAINT user_policies_user_uuid_fkey FOREIGN KEY (user_uuid) REFERENCES users (uuid) ON DELETE CASCADE,
    ADD CONSTRAINT user_policies_policy_uuid_fkey
        FOREIGN KEY (policy_uuid) REFERENCES policies (uuid) ON DELETE CASCADE;
ALTER TABLE refresh_tokens ADD CONSTRAINT refresh_tokens_user_uuid_fkey
    FOREIGN KEY (user_uuid) REFERENCES users (uuid) ON DELETE CASCADE;
ALTER TABLE superseded_refresh_tokens ADD CONSTRAINT superseded_refresh_tokens_refresh_token_uuid_fkey
    FOREIGN KEY (refresh_token_uuid) REFERENCES refresh_tokens (uuid) ON DELETE CASCADE;
ALTER TABLE session_bounds ADD CONSTRAINT session_bounds_user_uuid_fkey
    FOREIGN KEY (user_uuid) REFERENCES users (uuid) ON DELETE CASCADE;

CREATE VIEW sessions AS
    SELECT session_uuid AS uuid, auth_id AS user_uuid, tenant_uuid, mobile, issued_at AS created_at, user_agent,
           remote_addr, client_id, search_text
    FROM tokens;

-- users.acl (migration 0010): the user's policies' ACL entries in attachment order, now one jsonb array.
CREATE FUNCTION tessera_user_acl(p_user uuid) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT COALESCE(jsonb_agg(e.entry ORDER BY up.position, e.n), '[]'::jsonb)
    FROM user_policies up JOIN policies p ON p.uuid = up.policy_uuid
    CROSS JOIN LATERAL jsonb_array_elements(p.acl) WITH ORDINALITY AS e(entry, n)
    WHERE up.user_uuid = p_user
$$;

-- As migration 0010: locks first, in one order (the policy attached FOR SHARE, then the users FOR NO KEY UPDATE).
CREATE FUNCTION tessera_join_user_acl() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'user_policies' THEN
        PERFORM 1 FROM policies WHERE uuid = NEW.policy_uuid FOR SHARE;
        PERFORM 1 FROM users WHERE uuid IN (OLD.user_uuid, NEW.user_uuid) ORDER BY uuid FOR NO KEY UPDATE;
        UPDATE users SET acl = tessera_user_acl(uuid) WHERE uuid IN (OLD.user_uuid, NEW.user_uuid);
    ELSE
        PERFORM 1 FROM users WHERE uuid IN (SELECT user_uuid FROM user_policies WHERE policy_uuid = NEW.uuid)
            ORDER BY uuid FOR NO KEY UPDATE;
        UPDATE users SET acl = tessera_user_acl(uuid)
            WHERE uuid IN (SELECT user_uuid FROM user_policies WHERE policy_uuid = NEW.uuid);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER user_policies_join_acl AFTER INSERT OR UPDATE OR DELETE ON user_policies
    FOR EACH ROW EXECUTE FUNCTION tessera_join_user_acl();
CREATE TRIGGER policies_join_acl AFTER UPDATE OF acl ON policies
    FOR EACH ROW WHEN (OLD.acl IS DISTINCT FROM NEW.acl) EXECUTE FUNCTION tessera_join_user_acl();

UPDATE users SET acl = tessera_user_acl(uuid);
