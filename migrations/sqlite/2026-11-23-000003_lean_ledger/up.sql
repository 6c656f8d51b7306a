-- A leaner ledger: one entry row per verification or reversal, carrying the provider's line,
-- with the allocations as its payer lines. ledger_postings repeated every allocation as a
-- payer: and an unfunded: posting; the same double entry is now five rows a claim, not nine
-- (BENCHMARKS.md). An entry balances when its provider line plus its allocations'
-- amount + shortfall is zero; `cofund check` verifies that, and that no line is orphaned.
--
-- The ledger carries no per-row foreign keys: its rows are written only by the service, in
-- the transaction that has just read and locked the claims they name, and a per-row check
-- costs as much as the rest of the insert (PostgreSQL runs a trigger for every row). What a
-- foreign key would guard against, a claim deleted from under its ledger, is refused outright
-- below: claims are never deleted. `cofund check` audits that every entry and line names an
-- existing claim, entry and payer.

CREATE TABLE ledger_entries (
    id                     TEXT PRIMARY KEY,
    claim_id               TEXT NOT NULL,
    project_id             TEXT NOT NULL, -- the claim's project
    -- The provider's line: minus the entry's payer lines (a credit, so negative when paid).
    provider_amount_minor  BIGINT NOT NULL,
    posted_at              TIMESTAMP NOT NULL,
    reverses_entry_id      TEXT
) WITHOUT ROWID;
CREATE UNIQUE INDEX ledger_entries_reverses_idx ON ledger_entries(reverses_entry_id)
    WHERE reverses_entry_id IS NOT NULL;

-- Every old entry, from its provider posting.
INSERT INTO ledger_entries (id, claim_id, project_id, provider_amount_minor, posted_at, reverses_entry_id)
SELECT entry_id, MIN(claim_id), MIN(project_id),
       SUM(CASE WHEN account LIKE 'provider:%' THEN amount_minor ELSE 0 END),
       MIN(posted_at), MIN(reverses_entry_id)
FROM ledger_postings GROUP BY entry_id;
-- A verification that paid nothing had no postings; it gets its (empty) entry now.
INSERT INTO ledger_entries (id, claim_id, project_id, provider_amount_minor, posted_at, reverses_entry_id)
SELECT c.entry_id, c.id, c.project_id, 0, COALESCE(c.decided_at, c.submitted_at), NULL
FROM claims c
WHERE c.entry_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.id = c.entry_id);

-- SQLite cannot drop a constraint in place: the allocations table is rebuilt without its
-- per-row foreign keys, and with a unique index on reversals alone instead of every row.
CREATE TABLE allocations_lean (
    id                     INTEGER PRIMARY KEY,
    entry_id               TEXT NOT NULL,
    claim_id               TEXT NOT NULL,
    project_id             TEXT NOT NULL,
    payer_id               TEXT NOT NULL,
    payer_organisation_id  TEXT NOT NULL,
    amount_minor           BIGINT NOT NULL,
    shortfall_minor        BIGINT NOT NULL,
    achieved_on            DATE NOT NULL,
    posted_at              TIMESTAMP NOT NULL,
    reverses_id            BIGINT
);
INSERT INTO allocations_lean (id, entry_id, claim_id, project_id, payer_id, payer_organisation_id,
                              amount_minor, shortfall_minor, achieved_on, posted_at, reverses_id)
SELECT id, entry_id, claim_id, project_id, payer_id, payer_organisation_id,
       amount_minor, shortfall_minor, achieved_on, posted_at, reverses_id
FROM allocations;
DROP TABLE allocations;
ALTER TABLE allocations_lean RENAME TO allocations;
-- The project's allocations are listed in id order, filtered by payer and period on the way:
-- an index in that order serves every page without a sort, and a new allocation is appended
-- at its end. (By payer and achievement date, every bulk verification rewrote pages all over
-- the index, and a page of the list had to sort all of a payer's allocations.)
CREATE INDEX allocations_project_idx ON allocations(project_id, id);
CREATE INDEX allocations_claim_idx ON allocations(claim_id);
CREATE UNIQUE INDEX allocations_reverses_idx ON allocations(reverses_id) WHERE reverses_id IS NOT NULL;

DROP TABLE ledger_postings;

-- Claims are listed by project in id order; the status is filtered on the way. Without it in
-- an index, verifying a claim rewrites no index entry.
DROP INDEX claims_status_idx;
CREATE INDEX claims_project_idx ON claims(project_id, id);

CREATE TRIGGER allocations_append_only_update BEFORE UPDATE ON allocations
BEGIN SELECT RAISE(ABORT, 'allocations are append-only: post a reversal instead'); END;
CREATE TRIGGER allocations_append_only_delete BEFORE DELETE ON allocations
BEGIN SELECT RAISE(ABORT, 'allocations are append-only: post a reversal instead'); END;
CREATE TRIGGER ledger_entries_append_only_update BEFORE UPDATE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: post a reversal instead'); END;
CREATE TRIGGER ledger_entries_append_only_delete BEFORE DELETE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: post a reversal instead'); END;
CREATE TRIGGER claims_never_deleted BEFORE DELETE ON claims
BEGIN SELECT RAISE(ABORT, 'claims are never deleted: reject or revoke instead'); END;
