-- Adjustments: what the ledger learns of quarters already published (late verifications,
-- revocations), published apart since a frozen quarter never changes. Once a year, the first
-- rebuild of the year holds a round for each project (recorded, published or not); each
-- outcome's row is the net change over the project's frozen quarters since they were frozen
-- or last adjusted. Kept whole (what the disclosure auditor takes as known, each payer's money
-- and what counts against the caps), though the published table shows less; written once,
-- never changed.
CREATE TABLE open_data_adjustment_rounds (
    project_id  TEXT NOT NULL REFERENCES projects(id),
    year        INTEGER NOT NULL,
    held_at     TIMESTAMP NOT NULL,
    PRIMARY KEY (project_id, year)
);

CREATE TABLE open_data_adjustments (
    project_id      TEXT NOT NULL REFERENCES projects(id),
    outcome_code    TEXT NOT NULL,
    year            INTEGER NOT NULL,
    published_at    TIMESTAMP NOT NULL,
    achieved_units  BIGINT NOT NULL,
    paid_units      BIGINT NOT NULL,
    payable_units   BIGINT NOT NULL,
    payable_minor   BIGINT NOT NULL,
    money_shown     BOOLEAN NOT NULL,
    PRIMARY KEY (project_id, outcome_code, year),
    FOREIGN KEY (project_id, year) REFERENCES open_data_adjustment_rounds(project_id, year)
);

-- Each payer's change of money in an adjustment.
CREATE TABLE open_data_adjustment_money (
    project_id             TEXT NOT NULL,
    outcome_code           TEXT NOT NULL,
    year                   INTEGER NOT NULL,
    payer_organisation_id  TEXT NOT NULL,
    amount_minor           BIGINT NOT NULL,
    PRIMARY KEY (project_id, outcome_code, year, payer_organisation_id),
    FOREIGN KEY (project_id, outcome_code, year)
        REFERENCES open_data_adjustments(project_id, outcome_code, year)
);

CREATE TABLE published_adjustments (
    row_key                   TEXT PRIMARY KEY,
    project_id                TEXT NOT NULL,
    outcome_metric_id         TEXT NOT NULL,
    year                      BIGINT NOT NULL,
    date_published            TEXT NOT NULL,
    outcomes_achieved_change  BIGINT NOT NULL,
    outcomes_paid_change      BIGINT NOT NULL,
    money_amount_change       BIGINT,
    money_currency            TEXT NOT NULL,
    row_json                  TEXT NOT NULL,
    row_csv                   TEXT NOT NULL
);
CREATE INDEX published_adjustments_project_idx ON published_adjustments(project_id);

INSERT INTO published_tables (id, row_count, built_at) VALUES ('adjustments', 0, NULL);

CREATE TRIGGER open_data_adjustment_rounds_immutable_update BEFORE UPDATE ON open_data_adjustment_rounds
BEGIN SELECT RAISE(ABORT, 'published open data is frozen'); END;
CREATE TRIGGER open_data_adjustment_rounds_immutable_delete BEFORE DELETE ON open_data_adjustment_rounds
BEGIN SELECT RAISE(ABORT, 'published open data is frozen'); END;
CREATE TRIGGER open_data_adjustments_immutable_update BEFORE UPDATE ON open_data_adjustments
BEGIN SELECT RAISE(ABORT, 'published open data is frozen'); END;
CREATE TRIGGER open_data_adjustments_immutable_delete BEFORE DELETE ON open_data_adjustments
BEGIN SELECT RAISE(ABORT, 'published open data is frozen'); END;
CREATE TRIGGER open_data_adjustment_money_immutable_update BEFORE UPDATE ON open_data_adjustment_money
BEGIN SELECT RAISE(ABORT, 'published open data is frozen'); END;
CREATE TRIGGER open_data_adjustment_money_immutable_delete BEFORE DELETE ON open_data_adjustment_money
BEGIN SELECT RAISE(ABORT, 'published open data is frozen'); END;
