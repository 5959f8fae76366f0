-- A client's revision, raised by every change of it (its fields, its secret). The client-credentials grant may
-- answer from an in-process copy of the client; its token is written only while the client is still at the copy's
-- revision, so a secret renewed, a client changed or deleted by another process or instance is never served from
-- an old copy.
ALTER TABLE oauth2_clients ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;
