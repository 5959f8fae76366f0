-- OAuth2 refresh tokens (SPEC §11): every authorization makes its own chain, so a (user, client_id) pair is
-- unique only among the wazo face's refresh tokens (`oauth2` false). A chain of an OAuth2 client is redeemed only
-- at /oauth2/token, and always rotates.
ALTER TABLE refresh_tokens ADD COLUMN oauth2 BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE refresh_tokens DROP CONSTRAINT refresh_tokens_user_uuid_client_id_key;
CREATE UNIQUE INDEX refresh_tokens_one_per_wazo_client ON refresh_tokens (user_uuid, client_id) WHERE oauth2 = FALSE;
CREATE INDEX refresh_tokens_by_user_and_client ON refresh_tokens (user_uuid, client_id);
