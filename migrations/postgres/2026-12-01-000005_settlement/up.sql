-- Settlement: documents (invoices, top-up claims, credit notes) built from the ledger.
--
-- A document settles allocations: an allocation's settlement period is chosen by the date it
-- was *posted*, so that a reversal posted after its period was invoiced lands, as a credit
-- line, on the payer's next document instead of rewriting an issued one.

-- Each allocation names its outcome, so that a document line needs no join to the claim for
-- it. Existing ledgers take it from their claims. The append-only triggers are lifted for
-- this one conversion and put back as they were.
ALTER TABLE allocations DISABLE TRIGGER allocations_append_only;
ALTER TABLE allocations ADD COLUMN outcome_code TEXT;
UPDATE allocations SET outcome_code = c.outcome_code FROM claims c WHERE c.id = allocations.claim_id;
ALTER TABLE allocations ALTER COLUMN outcome_code SET NOT NULL;
ALTER TABLE allocations ENABLE TRIGGER allocations_append_only;
-- "The lines of payer X on project Y posted up to a day": the access path of every build.
CREATE INDEX allocations_payer_posted_idx ON allocations(project_id, payer_id, posted_at);

-- Payment terms: an issued document is due this many days after its issue date.
ALTER TABLE projects ADD COLUMN payment_terms_days INTEGER NOT NULL DEFAULT 30;

CREATE TABLE settlement_documents (
    id                         TEXT PRIMARY KEY,
    project_id                 TEXT NOT NULL REFERENCES projects(id),
    kind                       TEXT NOT NULL,      -- invoice, top_up_claim, credit_note
    status                     TEXT NOT NULL,      -- draft, issued, paid, void
    period                     TEXT NOT NULL,      -- 2021-Q1 or 2021-03
    period_start               DATE NOT NULL,
    period_end                 DATE NOT NULL,
    issuer_organisation_id     TEXT NOT NULL REFERENCES organisations(id),
    recipient_organisation_id  TEXT NOT NULL REFERENCES organisations(id),
    currency                   TEXT NOT NULL,
    total_minor                BIGINT NOT NULL,
    paid_minor                 BIGINT NOT NULL,
    line_count                 INTEGER NOT NULL,   -- lines never change once built
    number                     TEXT,               -- once issued
    issued_on                  DATE,
    due_on                     DATE,
    credits_document_id        TEXT REFERENCES settlement_documents(id), -- a credit note's voided document
    void_reason                TEXT,
    created_by                 TEXT NOT NULL,
    created_at                 TIMESTAMP NOT NULL
);
-- A number is the issuer's own: unique among its documents (two issuers may share a prefix).
CREATE UNIQUE INDEX settlement_documents_number_idx ON settlement_documents(issuer_organisation_id, number)
    WHERE number IS NOT NULL;
CREATE INDEX settlement_documents_project_idx ON settlement_documents(project_id, period, id);
CREATE INDEX settlement_documents_issuer_idx ON settlement_documents(issuer_organisation_id, id);
CREATE INDEX settlement_documents_recipient_idx ON settlement_documents(recipient_organisation_id, id);
-- One credit note per voided document.
CREATE UNIQUE INDEX settlement_documents_credits_idx ON settlement_documents(credits_document_id)
    WHERE credits_document_id IS NOT NULL;

-- Lines and links carry no per-row foreign key, like the ledger (a build writes a million
-- of each, and PostgreSQL would run a trigger for every row): they are written only by the
-- service, in the transaction that writes their document, and `cofund check` audits that
-- every line and link names an existing document.
CREATE TABLE document_lines (
    document_id            TEXT NOT NULL,
    position               INTEGER NOT NULL,
    claim_id               TEXT NOT NULL,
    outcome_code           TEXT NOT NULL,
    participant_pseudonym  TEXT NOT NULL,
    achieved_on            DATE NOT NULL,
    posted_at              TIMESTAMP NOT NULL,
    amount_minor           BIGINT NOT NULL,
    PRIMARY KEY (document_id, position)
);

-- Which document line settled an allocation, in each leg of settlement (`invoice`: what the
-- provider invoices; `top_up_claim`: what a lead commissioner claims back from a central
-- fund under via_commissioner). The key makes it impossible to settle an allocation twice
-- in a leg. Links of a draft go with it when it is rebuilt; those of a voided document are
-- released, so that its allocations are invoiced again (its credit note cancels it).
CREATE TABLE settlement_links (
    allocation_id  BIGINT NOT NULL,
    leg            TEXT NOT NULL,
    document_id    TEXT NOT NULL,
    line_position  INTEGER NOT NULL,
    PRIMARY KEY (allocation_id, leg)
);
CREATE INDEX settlement_links_document_idx ON settlement_links(document_id);

CREATE TABLE document_payments (
    id            TEXT PRIMARY KEY,
    document_id   TEXT NOT NULL REFERENCES settlement_documents(id),
    amount_minor  BIGINT NOT NULL,
    paid_on       DATE NOT NULL,
    reference     TEXT NOT NULL,
    recorded_by   TEXT NOT NULL,      -- the person (the token's subject): shown to its own organisation
    recorded_by_organisation_id TEXT, -- none for an admin
    recorded_at   TIMESTAMP NOT NULL
);
CREATE INDEX document_payments_document_idx ON document_payments(document_id);

-- Every transition of a document: who, when, what.
CREATE TABLE document_events (
    id           BIGSERIAL PRIMARY KEY,
    document_id  TEXT NOT NULL REFERENCES settlement_documents(id),
    action       TEXT NOT NULL,   -- built, issued, payment, paid, voided
    actor        TEXT NOT NULL,   -- the person: shown to its own organisation and admins
    actor_organisation_id TEXT,   -- none for an admin
    at           TIMESTAMP NOT NULL,
    detail       TEXT NOT NULL
);
CREATE INDEX document_events_document_idx ON document_events(document_id, id);

-- Gap-free numbering: the last number each issuer gave in a year, taken and raised in the
-- transaction that issues.
CREATE TABLE document_sequences (
    issuer_organisation_id  TEXT NOT NULL,
    year                    INTEGER NOT NULL,
    last_number             INTEGER NOT NULL,
    PRIMARY KEY (issuer_organisation_id, year)
);

-- An issued document is frozen: its lines never change, and go only with a draft rebuilt.
CREATE FUNCTION cofund_document_lines_frozen() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' OR (SELECT status FROM settlement_documents WHERE id = OLD.document_id) <> 'draft' THEN
        RAISE EXCEPTION 'the lines of an issued document never change';
    END IF;
    RETURN OLD;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER document_lines_frozen BEFORE UPDATE OR DELETE ON document_lines
    FOR EACH ROW EXECUTE FUNCTION cofund_document_lines_frozen();

-- Planned outcome payments per quarter, set by the fund manager, against which actuals are shown.
CREATE TABLE payment_plans (
    project_id     TEXT NOT NULL REFERENCES projects(id),
    quarter        TEXT NOT NULL,   -- 2021-Q1
    planned_minor  BIGINT NOT NULL,
    PRIMARY KEY (project_id, quarter)
);

-- The transactional outbox: a notification is queued in the transaction of its event and
-- delivered by a worker (several processes share the queue: FOR UPDATE SKIP LOCKED).
CREATE TABLE outbox (
    id               TEXT PRIMARY KEY,   -- also the local part of its stable Message-ID
    kind             TEXT NOT NULL,      -- document_issued, claim_rejected, cap_near, cap_reached
    recipients       TEXT NOT NULL,      -- personal data: never logged, never published
    subject          TEXT NOT NULL,
    body             TEXT NOT NULL,
    status           TEXT NOT NULL,      -- queued, sent, failed (gave up after its attempts)
    attempts         INTEGER NOT NULL,
    next_attempt_at  TIMESTAMP NOT NULL,
    last_error       TEXT,
    created_at       TIMESTAMP NOT NULL,
    sent_at          TIMESTAMP
);
CREATE INDEX outbox_due_idx ON outbox(status, next_attempt_at);
