-- The device authorization grant (SPEC §11.8, RFC 8628): a device's pending authorization, found by the digest of
-- its device code (the device polls with it) or of its user code (the user types it). Neither value is stored. Each
-- row goes with its client and with the user who decided.

-- `status` is pending until the user decides (allowed or denied), then redeemed once the device got its token.
-- `poll_interval` (seconds) grows by RFC 8628 §3.5's slow_down; `last_poll` is when the device last asked (at first,
-- when the authorization was answered).
CREATE TABLE oauth2_device_codes (
    device_digest    BLOB PRIMARY KEY,
    user_code_digest BLOB NOT NULL UNIQUE,
    client_id        TEXT NOT NULL REFERENCES oauth2_clients (client_id) ON DELETE CASCADE,
    scope            TEXT NOT NULL,
    expires_at       BIGINT NOT NULL,
    poll_interval    BIGINT NOT NULL,
    last_poll        BIGINT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'allowed', 'denied', 'redeemed')),
    user_uuid        TEXT REFERENCES users (uuid) ON DELETE CASCADE
);
CREATE INDEX oauth2_device_codes_by_expiry ON oauth2_device_codes (expires_at);
CREATE INDEX oauth2_device_codes_by_client ON oauth2_device_codes (client_id);
CREATE INDEX oauth2_device_codes_by_user ON oauth2_device_codes (user_uuid);
