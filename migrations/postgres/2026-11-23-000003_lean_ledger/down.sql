DROP TRIGGER claims_never_deleted ON claims;
DROP FUNCTION cofund_never_deleted();
-- Back to separate postings: each entry's lines are rebuilt from its row and its allocations.
CREATE TABLE ledger_postings (
    id                 BIGSERIAL PRIMARY KEY,
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
CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON ledger_postings
    FOR EACH ROW EXECUTE FUNCTION cofund_append_only();
DROP TABLE ledger_entries;
DROP INDEX allocations_reverses_idx;
DROP INDEX allocations_project_idx;
CREATE INDEX allocations_project_idx ON allocations(project_id, payer_organisation_id, achieved_on);
ALTER TABLE allocations
    ADD CONSTRAINT allocations_claim_id_fkey FOREIGN KEY (claim_id) REFERENCES claims(id),
    ADD CONSTRAINT allocations_payer_id_fkey FOREIGN KEY (payer_id) REFERENCES project_payers(id),
    ADD CONSTRAINT allocations_reverses_id_fkey FOREIGN KEY (reverses_id) REFERENCES allocations(id),
    ADD CONSTRAINT allocations_reverses_id_key UNIQUE (reverses_id);
DROP INDEX claims_project_idx;
CREATE INDEX claims_status_idx ON claims(project_id, status);
ALTER TABLE claims RESET (fillfactor);
