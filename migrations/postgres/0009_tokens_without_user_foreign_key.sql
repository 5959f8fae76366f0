-- A token's user is checked and locked by the statement that writes the token (store::tokens::user_still_enabled and
-- refresh_grant_statement: `FOR KEY SHARE`), so the foreign key's own check, a trigger running one more query per
-- token, only repeated it. delete_user locks the user `FOR UPDATE` before it deletes the user's tokens: a token
-- written meanwhile is either deleted with them or not written at all.
ALTER TABLE tokens DROP CONSTRAINT tokens_by_session_auth_id_fkey;
