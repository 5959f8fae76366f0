-- user_policies_acl (0010) without an ORDER BY inside its aggregate: that syntax needs SQLite 3.44, and an
-- older sqlite3 (Debian 12's 3.40, what an operator opens a database or a backup with) could not read the
-- schema at all ("malformed database schema"). The same rows, in the same order: each user's policies' ACL
-- arrays, brackets cut, empty ones left out, joined in attachment order; a user without policies has no row.
-- The order comes from an ordered subquery that one aggregate without GROUP BY consumes, row by row, for one
-- user at a time (no sorter between them). The triggers of 0010 read the view by name and are unchanged.
DROP VIEW user_policies_acl;

CREATE VIEW user_policies_acl AS
    SELECT u.uuid AS user_uuid,
           '[' || COALESCE((SELECT group_concat(entries, ',')
                            FROM (SELECT NULLIF(substr(p.acl, 2, length(p.acl) - 2), '') AS entries
                                  FROM user_policies up JOIN policies p ON p.uuid = up.policy_uuid
                                  WHERE up.user_uuid = u.uuid
                                  ORDER BY up.position)),
                           '') || ']' AS acl
    FROM users u
    WHERE EXISTS (SELECT 1 FROM user_policies up WHERE up.user_uuid = u.uuid);
