-- Back to the layout of the claims-ledger migration.
DROP TRIGGER claims_never_deleted;
-- Back to separate postings: each entry's lines are rebuilt from its row and its allocations.
CREATE TABLE ledger_postings (
    id                 INTEGER PRIMARY KEY,
    entry_id           TEXT NOT NULL,
    claim_id           TEXT NOT NULL REFERENCES claims(id),
    project_id         TEXT NOT NULL,
    account            TEXT NOT NULL,
    amount_minor       BIGINT NOT NULL,
    posted_at          TIMESTAMP NOT NULL,
    reverses_entry_id  TEXT
);
CREATE INDEX ledger_postings_entry_idx ON ledger_postings(entry_id);
INSERT INTO ledger_postings (entry_id, claim_id, project_id, account, amount_minor, posted_at, reverses_entry_id)
SELECT a.entry_id, a.claim_id, a.project_id, 'payer:' || a.payer_id, a.amount_minor, a.posted_at, e.reverses_entry_id
FROM allocations a JOIN ledger_entries e ON e.id = a.entry_id WHERE a.amount_minor <> 0
UNION ALL
SELECT a.entry_id, a.claim_id, a.project_id, 'unfunded:' || a.payer_id, a.shortfall_minor, a.posted_at, e.reverses_entry_id
FROM allocations a JOIN ledger_entries e ON e.id = a.entry_id WHERE a.shortfall_minor <> 0
UNION ALL
SELECT id, claim_id, project_id, 'provider:' || project_id, provider_amount_minor, posted_at, reverses_entry_id
FROM ledger_entries WHERE provider_amount_minor <> 0;
CREATE TRIGGER ledger_append_only_update BEFORE UPDATE ON ledger_postings
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: post a reversal instead'); END;
CREATE TRIGGER ledger_append_only_delete BEFORE DELETE ON ledger_postings
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: post a reversal instead'); END;
DROP TABLE ledger_entries;
DROP INDEX claims_project_idx;
CREATE INDEX claims_status_idx ON claims(project_id, status);
DROP INDEX allocations_project_idx;
CREATE INDEX allocations_project_idx ON allocations(project_id, payer_organisation_id, achieved_on);
-- The allocations' foreign keys are not put back: SQLite can add one only by rebuilding the
-- table, and nothing in the earlier layout depends on them.
