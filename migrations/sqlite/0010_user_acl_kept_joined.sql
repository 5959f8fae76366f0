-- users.acl: the ACL of the user's policies, joined in attachment order (a JSON array), kept up to date by
-- triggers on every write that changes it, so that a refresh grant copies one column instead of joining and
-- sorting the user's policies (store::tokens::refresh_grant_statement). The triggers are the only writers of the
-- column. (SQLite's writers take turns: no write can race another.)
ALTER TABLE users ADD COLUMN acl TEXT NOT NULL DEFAULT '[]';

-- Each user's policies' ACL arrays joined as text: brackets cut, empty ones left out. A user without policies
-- has no row (the triggers then write '[]').
CREATE VIEW user_policies_acl AS
    SELECT up.user_uuid,
           '[' || COALESCE(group_concat(NULLIF(substr(p.acl, 2, length(p.acl) - 2), ''), ',' ORDER BY up.position),
                           '') || ']' AS acl
    FROM user_policies up JOIN policies p ON p.uuid = up.policy_uuid
    GROUP BY up.user_uuid;

CREATE TRIGGER user_policies_insert_join_acl AFTER INSERT ON user_policies
BEGIN
    UPDATE users SET acl = COALESCE((SELECT acl FROM user_policies_acl WHERE user_uuid = users.uuid), '[]')
        WHERE uuid = NEW.user_uuid;
END;

CREATE TRIGGER user_policies_delete_join_acl AFTER DELETE ON user_policies
BEGIN
    UPDATE users SET acl = COALESCE((SELECT acl FROM user_policies_acl WHERE user_uuid = users.uuid), '[]')
        WHERE uuid = OLD.user_uuid;
END;

CREATE TRIGGER user_policies_update_join_acl AFTER UPDATE ON user_policies
BEGIN
    UPDATE users SET acl = COALESCE((SELECT acl FROM user_policies_acl WHERE user_uuid = users.uuid), '[]')
        WHERE uuid IN (OLD.user_uuid, NEW.user_uuid);
END;

CREATE TRIGGER policies_join_acl AFTER UPDATE OF acl ON policies WHEN OLD.acl IS NOT NEW.acl
BEGIN
    UPDATE users SET acl = COALESCE((SELECT acl FROM user_policies_acl WHERE user_uuid = users.uuid), '[]')
        WHERE uuid IN (SELECT user_uuid FROM user_policies WHERE policy_uuid = NEW.uuid);
END;

UPDATE users SET acl = COALESCE((SELECT acl FROM user_policies_acl WHERE user_uuid = users.uuid), '[]');
