-- Brute-force counts: `failures` now holds settled failures only. Attempts still being checked are
-- `pending`, counted since `last_charge` (pending charges older than a few seconds are stale: an instance
-- stopped mid-check). Attempts in flight therefore never arm a hold-back; only a settled failure does.
UPDATE login_failures
   SET failures = CASE WHEN failures > pending THEN failures - pending ELSE 0 END, pending = 0;
ALTER TABLE login_failures ADD COLUMN last_charge BIGINT NOT NULL DEFAULT 0;

-- Where a user recently logged in successfully: `key` is the hex SHA-256 of the user and the address
-- (neither kept in clear), `trusted_until` epoch microseconds. A login from such a place is not held back
-- by failures from other addresses (the account's count) or of other users (the address's count).
CREATE TABLE trusted_logins (
    key           TEXT PRIMARY KEY,
    trusted_until BIGINT NOT NULL
);
CREATE INDEX trusted_logins_until ON trusted_logins (trusted_until);
