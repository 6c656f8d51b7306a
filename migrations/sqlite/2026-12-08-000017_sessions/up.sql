-- Sessions of people signed in through a browser: kept in the database, so that every process
-- of a deployment sees a sign-out or a disabled member at once. The cookie holds an opaque
-- random id; only its SHA-256 is stored, so the table holds no live session.
CREATE TABLE sessions (
    id_sha256      TEXT PRIMARY KEY,
    member_id      TEXT NOT NULL REFERENCES members(id),
    -- Sent back with every state-changing request the session makes (header or form field).
    csrf_token     TEXT NOT NULL,
    created_at     TIMESTAMP NOT NULL,
    last_seen_at   TIMESTAMP NOT NULL,
    address        TEXT
);
CREATE INDEX sessions_member_idx ON sessions(member_id);
