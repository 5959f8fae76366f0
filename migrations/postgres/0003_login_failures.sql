-- Brute-force counts, shared by every instance on this database. `key` is the hex SHA-256 of what is
-- counted (an account, an address, an account from one address): no login or address is kept in clear.
-- Times and delays are epoch microseconds. `threshold` and `max_delay` are the policy of the row's kind,
-- written with each failure so that one upsert can apply it. `pending`: attempts charged and still being checked.
CREATE TABLE login_failures (
    key           TEXT PRIMARY KEY,
    failures      BIGINT NOT NULL,
    delay         BIGINT NOT NULL,
    blocked_until BIGINT NOT NULL,
    last_failure  BIGINT NOT NULL,
    threshold     BIGINT NOT NULL,
    max_delay     BIGINT NOT NULL,
    pending       BIGINT NOT NULL
);
CREATE INDEX login_failures_last_failure ON login_failures (last_failure);
