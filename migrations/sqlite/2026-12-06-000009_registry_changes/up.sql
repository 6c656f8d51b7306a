-- Corrections to registry records (an organisation's name, identifier and billing addresses,
-- a fund's name, a project's name and published flag): one row per field changed, with who
-- changed it and when. Append-only. A billing address is personal data: its change is
-- recorded without the addresses.
CREATE TABLE registry_changes (
    id                          TEXT PRIMARY KEY,
    subject_id                  TEXT NOT NULL,
    field                       TEXT NOT NULL,
    old_value                   TEXT,
    new_value                   TEXT,
    changed_by                  TEXT NOT NULL,
    changed_by_organisation_id  TEXT,
    changed_at                  TIMESTAMP NOT NULL
);
CREATE INDEX registry_changes_subject_idx ON registry_changes(subject_id, changed_at);

CREATE TRIGGER registry_changes_append_only_update BEFORE UPDATE ON registry_changes
BEGIN SELECT RAISE(ABORT, 'the registry history is append-only'); END;
CREATE TRIGGER registry_changes_append_only_delete BEFORE DELETE ON registry_changes
BEGIN SELECT RAISE(ABORT, 'the registry history is append-only'); END;
