-- How each cap of a published project stood at each rebuild that published something new:
-- whether it had bound, and which way what the ledger held beyond the published rows went
-- (1 more, -1 revocations, 0 nothing). A later rebuild's auditor takes it
-- as known to the reader, who saw that earlier release. `cap` is `payer:<organisation id>`,
-- `contract` or `volume:<outcome code>`. Never published itself.
CREATE TABLE open_data_cap_states (
    project_id  TEXT NOT NULL REFERENCES projects(id),
    cap         TEXT NOT NULL,
    as_of       TIMESTAMP NOT NULL,
    bound       BOOLEAN NOT NULL,
    beyond      INTEGER NOT NULL CHECK (beyond IN (-1, 0, 1)),
    PRIMARY KEY (project_id, cap, as_of)
);

CREATE TRIGGER open_data_cap_states_immutable_update BEFORE UPDATE ON open_data_cap_states
BEGIN SELECT RAISE(ABORT, 'published open data is frozen'); END;
CREATE TRIGGER open_data_cap_states_immutable_delete BEFORE DELETE ON open_data_cap_states
BEGIN SELECT RAISE(ABORT, 'published open data is frozen'); END;
