-- users.acl: the ACL of the user's policies, joined in attachment order (a JSON array), kept up to date by
-- triggers on every write that changes it, so that a refresh grant copies one column instead of joining and
-- sorting the user's policies (store::tokens::refresh_grant_statement: about 70 µs of PostgreSQL CPU per grant).
-- The triggers are the only writers of the column: no code path can change a user's policies and forget it.
ALTER TABLE users ADD COLUMN acl TEXT NOT NULL DEFAULT '[]';

-- A user's policies' ACL arrays joined as text: brackets cut, empty ones left out.
CREATE FUNCTION tessera_user_acl(p_user TEXT) RETURNS TEXT LANGUAGE sql STABLE AS $$
    SELECT '[' || COALESCE(string_agg(NULLIF(substr(p.acl, 2, length(p.acl) - 2), ''), ',' ORDER BY up.position), '')
           || ']'
    FROM user_policies up JOIN policies p ON p.uuid = up.policy_uuid WHERE up.user_uuid = p_user
$$;

-- Locks come first, in one order (policy, then users), and each statement of this (volatile) function takes a new
-- snapshot, so the join runs after every competing change has committed and sees it:
-- * the policy attached, FOR SHARE: an attachment waits for a rewrite of the policy's ACL in progress (whose
--   trigger did not see the attachment), and a rewrite waits for it. (A detachment needs no such lock: the
--   policy's ACL leaves the user's, and a rewrite in progress finds the user detached once it may lock them.
--   So delete_user, which holds its user FOR UPDATE, never waits for a policy here.)
-- * the users FOR NO KEY UPDATE: two changes of one user's policies join in turn, so neither writes an ACL that
--   misses the other. Token writes, which hold users FOR KEY SHARE, are not blocked.
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
