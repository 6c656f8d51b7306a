-- Open data: the published tables, rebuilt from the registry and the ledger with small numbers
-- suppressed, and the releases cut from them.
--
-- Each published table has the public columns named as in the data dictionary (filters and
-- sorting run on them), a `row_key` (its primary key values joined, the order of the CSV and
-- of keyset cursors) and the row already rendered as JSON and as a CSV record, so that a page
-- or a whole-table download is a read of finished text. Amounts are stored as exact integers
-- of ten-thousandths of the currency unit (every ISO 4217 currency has at most four decimals),
-- dates and times as ISO 8601 text (which sorts as the dates do). A suppressed value is NULL.

-- INDIGO's `social_challenge`, the one descriptive field the registry lacked.
ALTER TABLE projects ADD COLUMN social_challenge TEXT;

-- The access path of the quarterly payments by payer and outcome, read by every rebuild.
CREATE INDEX allocations_open_data_idx
    ON allocations(project_id, outcome_code, payer_organisation_id, achieved_on, claim_id, amount_minor);

CREATE TABLE published_funds (
    row_key                TEXT PRIMARY KEY,
    fund_id                TEXT NOT NULL,
    name                   TEXT NOT NULL,
    owner_organisation_id  TEXT NOT NULL,
    budget_amount          BIGINT NOT NULL,
    budget_currency        TEXT NOT NULL,
    start_date             TEXT NOT NULL,
    end_date               TEXT NOT NULL,
    date_modified          TEXT NOT NULL,
    row_json               TEXT NOT NULL,
    row_csv                TEXT NOT NULL
);

CREATE TABLE published_organisations (
    row_key                     TEXT PRIMARY KEY,
    organisation_id             TEXT NOT NULL,
    name                        TEXT NOT NULL,
    organisation_role_category  TEXT NOT NULL,
    organisation_kind           TEXT NOT NULL,
    org_id                      TEXT,
    date_modified               TEXT NOT NULL,
    row_json                    TEXT NOT NULL,
    row_csv                     TEXT NOT NULL
);

CREATE TABLE published_projects (
    row_key                                     TEXT PRIMARY KEY,
    project_id                                  TEXT NOT NULL,
    name                                        TEXT NOT NULL,
    outcome_fund_ids                            TEXT,
    provider_organisation_id                    TEXT NOT NULL,
    stage_development                           TEXT,
    start_date_of_service_provision             TEXT NOT NULL,
    anticipated_end_date_of_service_provision   TEXT NOT NULL,
    policy_sector                               TEXT,
    social_challenge                            TEXT,
    target_population                           TEXT,
    maximum_potential_outcome_payment_amount    BIGINT,
    maximum_potential_outcome_payment_currency  TEXT NOT NULL,
    total_outcome_payments_made_amount          BIGINT,
    total_outcome_payments_made_currency        TEXT NOT NULL,
    date_modified                               TEXT NOT NULL,
    row_json                                    TEXT NOT NULL,
    row_csv                                     TEXT NOT NULL
);

CREATE TABLE published_project_payers (
    row_key                                     TEXT PRIMARY KEY,
    project_id                                  TEXT NOT NULL,
    organisation_id                             TEXT NOT NULL,
    organisation_role_category                  TEXT NOT NULL,
    payer_role                                  TEXT NOT NULL,
    maximum_potential_outcome_payment_amount    BIGINT NOT NULL,
    maximum_potential_outcome_payment_currency  TEXT NOT NULL,
    share                                       TEXT,
    total_outcome_payments_amount               BIGINT,
    total_outcome_payments_currency             TEXT NOT NULL,
    row_json                                    TEXT NOT NULL,
    row_csv                                     TEXT NOT NULL
);

CREATE TABLE published_outcome_metrics (
    row_key                     TEXT PRIMARY KEY,
    project_id                  TEXT NOT NULL,
    outcome_metric_id           TEXT NOT NULL,
    code                        TEXT NOT NULL,
    definition                  TEXT NOT NULL,
    unit                        TEXT NOT NULL,
    price_per_unit_amount       BIGINT NOT NULL,
    currency                    TEXT NOT NULL,
    max_units_per_participant   BIGINT,
    max_claims_per_participant  BIGINT NOT NULL,
    volume_cap                  BIGINT,
    min_age_at_start            BIGINT,
    max_age_at_start            BIGINT,
    row_json                    TEXT NOT NULL,
    row_csv                     TEXT NOT NULL
);

CREATE TABLE published_results_quarterly (
    row_key                        TEXT PRIMARY KEY,
    project_id                     TEXT NOT NULL,
    outcome_metric_id              TEXT NOT NULL,
    period_start_date              TEXT NOT NULL,
    period_end_date                TEXT NOT NULL,
    outcomes_achieved              BIGINT,
    outcomes_paid                  BIGINT,
    number_engaged_in_impact_bond  BIGINT,
    row_json                       TEXT NOT NULL,
    row_csv                        TEXT NOT NULL
);
CREATE INDEX published_results_quarterly_project_idx ON published_results_quarterly(project_id);

CREATE TABLE published_payments_quarterly (
    row_key                    TEXT PRIMARY KEY,
    project_id                 TEXT NOT NULL,
    outcome_metric_id          TEXT NOT NULL,
    period_start_date          TEXT NOT NULL,
    period_end_date            TEXT NOT NULL,
    payer_organisation_id      TEXT NOT NULL,
    recipient_organisation_id  TEXT NOT NULL,
    money_amount               BIGINT,
    money_currency             TEXT NOT NULL,
    row_json                   TEXT NOT NULL,
    row_csv                    TEXT NOT NULL
);
CREATE INDEX published_payments_quarterly_project_idx ON published_payments_quarterly(project_id);

-- One row per published table: its size and when it was last rebuilt. A rebuild locks the
-- row of `funds` first (FOR UPDATE on PostgreSQL), so that two processes never rebuild at once.
CREATE TABLE published_tables (
    id          TEXT PRIMARY KEY,
    row_count   BIGINT NOT NULL,
    built_at    TIMESTAMP
);
INSERT INTO published_tables (id, row_count, built_at) VALUES
    ('funds', 0, NULL), ('organisations', 0, NULL), ('projects', 0, NULL),
    ('project_payers', 0, NULL), ('outcome_metrics', 0, NULL),
    ('results_quarterly', 0, NULL), ('payments_quarterly', 0, NULL);

-- Releases: immutable once written (no statement updates or deletes them).
CREATE TABLE open_data_releases (
    version      TEXT PRIMARY KEY,
    released_at  TIMESTAMP NOT NULL,
    released_by  TEXT NOT NULL,
    manifest     TEXT NOT NULL
);
CREATE TABLE open_data_release_files (
    version      TEXT NOT NULL REFERENCES open_data_releases(version),
    name         TEXT NOT NULL,
    media_type   TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    byte_count   BIGINT NOT NULL,
    content      BLOB NOT NULL,
    PRIMARY KEY (version, name)
);
CREATE TRIGGER open_data_releases_immutable_update BEFORE UPDATE ON open_data_releases
BEGIN SELECT RAISE(ABORT, 'releases are immutable: cut a new one'); END;
CREATE TRIGGER open_data_releases_immutable_delete BEFORE DELETE ON open_data_releases
BEGIN SELECT RAISE(ABORT, 'releases are immutable: cut a new one'); END;
CREATE TRIGGER open_data_release_files_immutable_update BEFORE UPDATE ON open_data_release_files
BEGIN SELECT RAISE(ABORT, 'releases are immutable: cut a new one'); END;
CREATE TRIGGER open_data_release_files_immutable_delete BEFORE DELETE ON open_data_release_files
BEGIN SELECT RAISE(ABORT, 'releases are immutable: cut a new one'); END;
