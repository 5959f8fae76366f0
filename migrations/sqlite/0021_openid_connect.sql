-- OpenID Connect (SPEC §11.9): the keys that sign ID tokens, and what a device's authorization needs for its ID token.

-- A signing key: its private half as PKCS#8 DER sealed under token_secret (AES-256-GCM, the key id as associated
-- data), never in clear. `retired_at` is set when a newer key of its algorithm became current; the key stays
-- published until `publish_until` (every ID token it signed has expired by then), and is purged after.
CREATE TABLE oauth2_signing_keys (
    kid           TEXT PRIMARY KEY,
    alg           TEXT NOT NULL CHECK (alg IN ('RS256', 'ES256')),
    sealed_key    BLOB NOT NULL,
    created_at    BIGINT NOT NULL,
    retired_at    BIGINT,
    publish_until BIGINT
);
-- At most one current key per algorithm (two instances starting at once make one).
CREATE UNIQUE INDEX oauth2_signing_keys_one_current ON oauth2_signing_keys (alg) WHERE retired_at IS NULL;

-- The sign-in a device's authorization was allowed in: the ID token's auth_time and sid.
ALTER TABLE oauth2_device_codes ADD COLUMN auth_time BIGINT;
ALTER TABLE oauth2_device_codes ADD COLUMN browser_session BLOB;
