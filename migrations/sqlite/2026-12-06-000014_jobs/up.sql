-- Long bulk work (a large upload of claims, a large verification) runs as a job: the request
-- is stored here and answered 202 with the job's URL; a worker runs it in one transaction
-- (all of it is applied or none), and a job whose process died is taken again once its lease
-- runs out. The rows are stored with their participants already pseudonymised.
CREATE TABLE jobs (
    id               TEXT PRIMARY KEY,
    kind             TEXT NOT NULL CHECK (kind IN ('submit_claims', 'verify_claims')),
    project_id       TEXT NOT NULL REFERENCES projects(id),
    subject          TEXT NOT NULL,
    role             TEXT NOT NULL,
    organisation_id  TEXT,
    input            TEXT NOT NULL,      -- JSON: the rows or claims to work on
    state            TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed')),
    rows_total       BIGINT NOT NULL,
    rows_done        BIGINT NOT NULL,
    attempts         INTEGER NOT NULL,
    lease_until      TIMESTAMP,
    result           TEXT,               -- JSON: the report, or the problem that refused it
    created_at       TIMESTAMP NOT NULL,
    started_at       TIMESTAMP,
    finished_at      TIMESTAMP
);
CREATE INDEX jobs_state_idx ON jobs(state, created_at);
