-- A client's revision, raised by every change of it (its fields, its secret). The client-credentials grant may
-- answer from an in-process copy of the client; its token is written only while the client is still at the copy's
-- revision, so a secret renewed, a client changed or deleted by another process is never served from an old copy.
ALTER TABLE oauth2_clients ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;

-- A client's own token raises the client's bound (oauth2_clients.tokens) as it is written, as
-- tokens_count_and_mark_used raises a user's: the grant under the bound is then one INSERT … SELECT (its
-- condition reads the bound) instead of an update and an insert.
CREATE TRIGGER tokens_count_client AFTER INSERT ON tokens WHEN NEW.client_id = NEW.auth_id
BEGIN
    UPDATE oauth2_clients SET tokens = tokens + 1 WHERE client_id = NEW.auth_id;
END;
