-- PostgreSQL's 0007 adds tessera_issue_limited(), a function writing a token under the user's lock in one
-- round trip. SQLite serialises every writer in the process and counts within the session's insert: nothing
-- to add here (the file keeps the two migration sequences numbered alike).
SELECT 1;
