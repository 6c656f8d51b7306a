-- A payer's commitment is agreed by that payer. `commitment` is where each payer's commitment
-- stands (`proposed` until its payer accepts or declines); `commitment_events` is its history,
-- append-only: who recorded or decided it, when, and why (a decline says why). Claims of a
-- project are verified only once every payer has accepted.
ALTER TABLE project_payers ADD COLUMN commitment TEXT NOT NULL DEFAULT 'accepted'
    CHECK (commitment IN ('proposed', 'accepted', 'declined'));

CREATE TABLE commitment_events (
    id                          TEXT PRIMARY KEY,
    project_id                  TEXT NOT NULL REFERENCES projects(id),
    payer_id                    TEXT NOT NULL REFERENCES project_payers(id),
    status                      TEXT NOT NULL CHECK (status IN ('proposed', 'accepted', 'declined')),
    decided_by                  TEXT NOT NULL,
    decided_by_organisation_id  TEXT,
    decided_at                  TIMESTAMP NOT NULL,
    reason                      TEXT,
    note                        TEXT NOT NULL
);
CREATE INDEX commitment_events_project_idx ON commitment_events(project_id, decided_at);

-- Commitments made before agreement was asked for stand as they were made, and say so.
INSERT INTO commitment_events
    SELECT 'cmt_' || id, project_id, id, 'accepted', 'migration', NULL, CURRENT_TIMESTAMP, NULL,
           'made before a payer''s agreement was asked for'
    FROM project_payers;

CREATE TRIGGER commitment_events_append_only_update BEFORE UPDATE ON commitment_events
BEGIN SELECT RAISE(ABORT, 'the history of commitments is append-only'); END;
CREATE TRIGGER commitment_events_append_only_delete BEFORE DELETE ON commitment_events
BEGIN SELECT RAISE(ABORT, 'the history of commitments is append-only'); END;
