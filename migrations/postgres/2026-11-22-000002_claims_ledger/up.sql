-- Outcome claims, their decisions and the append-only split ledger.

CREATE TABLE bulk_uploads (
    id              TEXT PRIMARY KEY,
    project_id      TEXT NOT NULL REFERENCES projects(id),
    submitted_by    TEXT NOT NULL,
    mode            TEXT NOT NULL,
    rows_total      INTEGER NOT NULL,
    rows_accepted   INTEGER NOT NULL,
    rows_rejected   INTEGER NOT NULL,
    created_at      TIMESTAMP NOT NULL
);

-- A claim's row carries its workflow state (submitted -> verified | rejected; verified ->
-- revoked). Money never lives here alone: every amount it records is also in the ledger below.
-- participant_pseudonym is a keyed HMAC of the provider's reference; the reference itself is
-- never stored.
CREATE TABLE claims (
    id                            TEXT PRIMARY KEY,
    project_id                    TEXT NOT NULL REFERENCES projects(id),
    outcome_id                    TEXT NOT NULL REFERENCES outcome_metrics(id),
    outcome_code                  TEXT NOT NULL,
    participant_pseudonym         TEXT NOT NULL,
    achieved_on                   DATE NOT NULL,
    period_start                  DATE NOT NULL,
    quantity                      INTEGER NOT NULL,
    evidence_ref                  TEXT,
    home_area                     TEXT,
    age_at_start                  INTEGER,
    referred_on                   DATE,
    upload_id                     TEXT REFERENCES bulk_uploads(id),
    status                        TEXT NOT NULL,
    submitted_by                  TEXT NOT NULL,
    submitted_by_organisation_id  TEXT NOT NULL,
    submitted_at                  TIMESTAMP NOT NULL,
    decided_by                    TEXT,
    decided_at                    TIMESTAMP,
    rejection_reason              TEXT,
    revoked_by                    TEXT,
    revoked_at                    TIMESTAMP,
    revocation_reason             TEXT,
    gross_minor                   BIGINT,
    payable_minor                 BIGINT,
    paid_units                    INTEGER,
    entry_id                      TEXT
);
CREATE INDEX claims_participant_idx ON claims(participant_pseudonym);
CREATE INDEX claims_status_idx ON claims(project_id, status);
CREATE INDEX claims_upload_idx ON claims(upload_id);

CREATE TABLE claim_adjustments (
    claim_id      TEXT NOT NULL REFERENCES claims(id),
    position      INTEGER NOT NULL,
    kind          TEXT NOT NULL,
    amount_minor  BIGINT NOT NULL,
    detail        TEXT NOT NULL,
    PRIMARY KEY (claim_id, position)
);

-- Each payer's part of a verified claim. A reversal is a new row with negated amounts that
-- names the row it reverses; nothing here is ever updated or deleted.
CREATE TABLE allocations (
    id                     BIGSERIAL PRIMARY KEY,
    entry_id               TEXT NOT NULL,
    claim_id               TEXT NOT NULL REFERENCES claims(id),
    project_id             TEXT NOT NULL, -- the claim's project (its foreign key says so)
    payer_id               TEXT NOT NULL REFERENCES project_payers(id),
    payer_organisation_id  TEXT NOT NULL,
    amount_minor           BIGINT NOT NULL,
    shortfall_minor        BIGINT NOT NULL,
    achieved_on            DATE NOT NULL,
    posted_at              TIMESTAMP NOT NULL,
    reverses_id            BIGINT UNIQUE REFERENCES allocations(id)
);
CREATE INDEX allocations_project_idx ON allocations(project_id, payer_organisation_id, achieved_on);
CREATE INDEX allocations_claim_idx ON allocations(claim_id);

-- The double-entry ledger: debits positive, credits negative, every entry sums to zero.
-- Accounts: payer:<payer id> (owed by a payer), unfunded:<payer id> (a capped payer's
-- shortfall), provider:<project id> (due to the provider).
CREATE TABLE ledger_postings (
    id                 BIGSERIAL PRIMARY KEY,
    entry_id           TEXT NOT NULL,
    claim_id           TEXT NOT NULL REFERENCES claims(id),
    project_id         TEXT NOT NULL, -- the claim's project
    account            TEXT NOT NULL,
    amount_minor       BIGINT NOT NULL,
    posted_at          TIMESTAMP NOT NULL,
    reverses_entry_id  TEXT
);
CREATE INDEX ledger_postings_entry_idx ON ledger_postings(entry_id);

-- Running totals kept beside the ledger in the same transaction, so that a verification does
-- not re-add millions of postings: the balance of every ledger account (payer:, unfunded:,
-- provider:) and the units paid per outcome (units:<outcome code>). `cofund check` recomputes
-- each from the postings and claims and reports any difference.
CREATE TABLE running_totals (
    project_id  TEXT NOT NULL REFERENCES projects(id),
    name        TEXT NOT NULL,
    value       BIGINT NOT NULL,
    PRIMARY KEY (project_id, name)
);

CREATE FUNCTION cofund_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: post a reversal instead', TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER allocations_append_only BEFORE UPDATE OR DELETE ON allocations
    FOR EACH ROW EXECUTE FUNCTION cofund_append_only();
CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON ledger_postings
    FOR EACH ROW EXECUTE FUNCTION cofund_append_only();
