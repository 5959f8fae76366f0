-- After `tessera rotate-secret`, a refresh token keeps its value sealed under the new key (16 bytes, the
-- value XOR an HMAC of the key and the row's uuid); NULL: the value is derived from the key (HMAC). The
-- key's fingerprint is recorded in `settings` (key `token_secret_fingerprint`), never the key.
ALTER TABLE refresh_tokens ADD COLUMN sealed BYTEA;
