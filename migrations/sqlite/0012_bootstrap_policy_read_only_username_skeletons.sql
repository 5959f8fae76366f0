-- The bootstrap policy is read-only: renaming, editing or deleting it could take `#` from the administrator.
-- Databases made before: the policy of that name granting exactly `#` (the start also records its uuid).
UPDATE policies SET read_only = 1 WHERE name = 'tessera-bootstrap-admin' AND acl = '["#"]';

-- Each username's look-alike key (its Unicode TR39 skeleton, lower-cased: domain::untrusted::skeleton), unique, so
-- that `аdmin` (Cyrillic а) or `ａｄｍｉｎ` (fullwidth) cannot be made beside `admin`. Filled at write time and, for
-- the rows before this column, at start (a name that already collides with another keeps none).
ALTER TABLE users ADD COLUMN username_skeleton TEXT;
CREATE UNIQUE INDEX users_username_skeleton ON users (username_skeleton);
