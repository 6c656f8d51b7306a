-- Open data: the published tables, rebuilt from the registry and the ledger with small numbers
-- suppressed, and the releases cut from them.
--
-- Each published table has the public columns named as in the data dictionary (filters and
-- sorting run on them), a `row_key` (its primary key values joined, the order of the CSV and
-- of keyset cursors) and the row already rendered as JSON and as a CSV record, so that a page
-- or a whole-table download is a read of finished text. Amounts are stored as exact integers
-- of ten-thousandths of the currency unit (every ISO 4217 currency has at most four decimals),
-- dates and times as ISO 8601 text (which sorts as the dates do). A suppressed value is NULL.
-- Text compares byte by byte ("C"), as on SQLite, so that both order pages the same way.

-- INDIGO's `social_challenge`, the one descriptive field the registry lacked.
ALTER TABLE projects ADD COLUMN social_challenge TEXT;

-- The access path of the quarterly payments by payer and outcome, read by every rebuild.
CREATE INDEX allocations_open_data_idx
    ON allocations(project_id, outcome_code, payer_organisation_id, achieved_on, claim_id, amount_minor);

CREATE TABLE published_funds (
    row_key                TEXT COLLATE "C" PRIMARY KEY,
    fund_id                TEXT COLLATE "C" NOT NULL,
    name                   TEXT COLLATE "C" NOT NULL,
    owner_organisation_id  TEXT COLLATE "C" NOT NULL,
    budget_amount          BIGINT NOT NULL,
    budget_currency        TEXT COLLATE "C" NOT NULL,
    start_date             TEXT COLLATE "C" NOT NULL,
    end_date               TEXT COLLATE "C" NOT NULL,
    date_modified          TEXT COLLATE "C" NOT NULL,
    row_json               TEXT COLLATE "C" NOT NULL,
    row_csv                TEXT COLLATE "C" NOT NULL
);

CREATE TABLE published_organisations (
    row_key                     TEXT COLLATE "C" PRIMARY KEY,
    organisation_id             TEXT COLLATE "C" NOT NULL,
    name                        TEXT COLLATE "C" NOT NULL,
    organisation_role_category  TEXT COLLATE "C" NOT NULL,
    organisation_kind           TEXT COLLATE "C" NOT NULL,
    org_id                      TEXT COLLATE "C",
    date_modified               TEXT COLLATE "C" NOT NULL,
    row_json                    TEXT COLLATE "C" NOT NULL,
    row_csv                     TEXT COLLATE "C" NOT NULL
);

CREATE TABLE published_projects (
    row_key                                     TEXT COLLATE "C" PRIMARY KEY,
    project_id                                  TEXT COLLATE "C" NOT NULL,
    name                                        TEXT COLLATE "C" NOT NULL,
    outcome_fund_ids                            TEXT COLLATE "C",
    provider_organisation_id                    TEXT COLLATE "C" NOT NULL,
    stage_development                           TEXT COLLATE "C",
    start_date_of_service_provision             TEXT COLLATE "C" NOT NULL,
    anticipated_end_date_of_service_provision   TEXT COLLATE "C" NOT NULL,
    policy_sector                               TEXT COLLATE "C",
    social_challenge                            TEXT COLLATE "C",
    target_population                           TEXT COLLATE "C",
    maximum_potential_outcome_payment_amount    BIGINT,
    maximum_potential_outcome_payment_currency  TEXT COLLATE "C" NOT NULL,
    total_outcome_payments_made_amount          BIGINT,
    total_outcome_payments_made_currency        TEXT COLLATE "C" NOT NULL,
    date_modified                               TEXT COLLATE "C" NOT NULL,
    row_json                                    TEXT COLLATE "C" NOT NULL,
    row_csv                                     TEXT COLLATE "C" NOT NULL
);

CREATE TABLE published_project_payers (
    row_key                                     TEXT COLLATE "C" PRIMARY KEY,
    project_id                                  TEXT COLLATE "C" NOT NULL,
    organisation_id                             TEXT COLLATE "C" NOT NULL,
    organisation_role_category                  TEXT COLLATE "C" NOT NULL,
    payer_role                                  TEXT COLLATE "C" NOT NULL,
    maximum_potential_outcome_payment_amount    BIGINT NOT NULL,
    maximum_potential_outcome_payment_currency  TEXT COLLATE "C" NOT NULL,
    share                                       TEXT COLLATE "C",
    total_outcome_payments_amount               BIGINT,
    total_outcome_payments_currency             TEXT COLLATE "C" NOT NULL,
    row_json                                    TEXT COLLATE "C" NOT NULL,
    row_csv                                     TEXT COLLATE "C" NOT NULL
);

CREATE TABLE published_outcome_metrics (
    row_key                     TEXT COLLATE "C" PRIMARY KEY,
    project_id                  TEXT COLLATE "C" NOT NULL,
    outcome_metric_id           TEXT COLLATE "C" NOT NULL,
    code                        TEXT COLLATE "C" NOT NULL,
    definition                  TEXT COLLATE "C" NOT NULL,
    unit                        TEXT COLLATE "C" NOT NULL,
    price_per_unit_amount       BIGINT NOT NULL,
    currency                    TEXT COLLATE "C" NOT NULL,
    max_units_per_participant   BIGINT,
    max_claims_per_participant  BIGINT NOT NULL,
    volume_cap                  BIGINT,
    min_age_at_start            BIGINT,
    max_age_at_start            BIGINT,
    row_json                    TEXT COLLATE "C" NOT NULL,
    row_csv                     TEXT COLLATE "C" NOT NULL
);

CREATE TABLE published_results_quarterly (
    row_key                        TEXT COLLATE "C" PRIMARY KEY,
    project_id                     TEXT COLLATE "C" NOT NULL,
    outcome_metric_id              TEXT COLLATE "C" NOT NULL,
    period_start_date              TEXT COLLATE "C" NOT NULL,
    period_end_date                TEXT COLLATE "C" NOT NULL,
    outcomes_achieved              BIGINT,
    outcomes_paid                  BIGINT,
    number_engaged_in_impact_bond  BIGINT,
    row_json                       TEXT COLLATE "C" NOT NULL,
    row_csv                        TEXT COLLATE "C" NOT NULL
);
CREATE INDEX published_results_quarterly_project_idx ON published_results_quarterly(project_id);

CREATE TABLE published_payments_quarterly (
    row_key                    TEXT COLLATE "C" PRIMARY KEY,
    project_id                 TEXT COLLATE "C" NOT NULL,
    outcome_metric_id          TEXT COLLATE "C" NOT NULL,
    period_start_date          TEXT COLLATE "C" NOT NULL,
    period_end_date            TEXT COLLATE "C" NOT NULL,
    payer_organisation_id      TEXT COLLATE "C" NOT NULL,
    recipient_organisation_id  TEXT COLLATE "C" NOT NULL,
    money_amount               BIGINT,
    money_currency             TEXT COLLATE "C" NOT NULL,
    row_json                   TEXT COLLATE "C" NOT NULL,
    row_csv                    TEXT COLLATE "C" NOT NULL
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
    content      BYTEA NOT NULL,
    PRIMARY KEY (version, name)
);
CREATE FUNCTION cofund_release_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'releases are immutable: cut a new one';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER open_data_releases_immutable BEFORE UPDATE OR DELETE ON open_data_releases
    FOR EACH ROW EXECUTE FUNCTION cofund_release_immutable();
CREATE TRIGGER open_data_release_files_immutable BEFORE UPDATE OR DELETE ON open_data_release_files
    FOR EACH ROW EXECUTE FUNCTION cofund_release_immutable();
