-- The bootstrap policy is read-only: renaming, editing or deleting it could take `#` from the administrator.
-- Databases made before: the policy of that name granting exactly `#` (the start also records its uuid).
UPDATE policies SET read_only = TRUE WHERE name = 'tessera-bootstrap-admin' AND acl = '["#"]';
