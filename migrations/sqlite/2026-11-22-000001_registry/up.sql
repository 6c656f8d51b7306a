-- The registry: organisations, central outcome funds, projects, their payers and rate cards.
-- Money is always BIGINT minor units with the currency stated beside it; shares are exact
-- decimal strings (TEXT) so that no backend ever rounds them through floating point.

CREATE TABLE organisations (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    identifier  TEXT UNIQUE,
    created_at  TIMESTAMP NOT NULL
);

CREATE TABLE organisation_area_codes (
    organisation_id TEXT NOT NULL REFERENCES organisations(id),
    area_code       TEXT NOT NULL,
    PRIMARY KEY (organisation_id, area_code)
);

-- Personal data: billing contacts are never published.
CREATE TABLE organisation_billing_emails (
    organisation_id TEXT NOT NULL REFERENCES organisations(id),
    email           TEXT NOT NULL,
    PRIMARY KEY (organisation_id, email)
);

CREATE TABLE funds (
    id                    TEXT PRIMARY KEY,
    name                  TEXT NOT NULL,
    owner_organisation_id TEXT NOT NULL REFERENCES organisations(id),
    currency              TEXT NOT NULL,
    budget_minor          BIGINT NOT NULL CHECK (budget_minor >= 0),
    service_start         DATE NOT NULL,
    service_end           DATE NOT NULL,
    created_at            TIMESTAMP NOT NULL
);
CREATE INDEX funds_owner_idx ON funds(owner_organisation_id);

CREATE TABLE projects (
    id                        TEXT PRIMARY KEY,
    name                      TEXT NOT NULL,
    fund_id                   TEXT REFERENCES funds(id),
    provider_organisation_id  TEXT NOT NULL REFERENCES organisations(id),
    currency                  TEXT NOT NULL,
    service_start             DATE NOT NULL,
    service_end               DATE NOT NULL,
    referral_cutoff           DATE,
    max_outcome_payment_minor BIGINT CHECK (max_outcome_payment_minor > 0),
    participant_cap_minor     BIGINT CHECK (participant_cap_minor > 0),
    cap_policy                TEXT NOT NULL,
    settlement_route          TEXT NOT NULL,
    settlement_frequency      TEXT NOT NULL,
    policy_sector             TEXT,
    target_population         TEXT,
    stage_development         TEXT,
    published                 BOOLEAN NOT NULL,
    created_at                TIMESTAMP NOT NULL
);
CREATE INDEX projects_fund_idx ON projects(fund_id);
CREATE INDEX projects_provider_idx ON projects(provider_organisation_id);

-- Payers are listed in order: `position` decides ties in the rounding rule.
CREATE TABLE project_payers (
    id                    TEXT PRIMARY KEY,
    project_id            TEXT NOT NULL REFERENCES projects(id),
    position              INTEGER NOT NULL,
    organisation_id       TEXT NOT NULL REFERENCES organisations(id),
    role                  TEXT NOT NULL,
    max_commitment_minor  BIGINT NOT NULL CHECK (max_commitment_minor > 0),
    share                 TEXT,
    lead                  BOOLEAN NOT NULL,
    UNIQUE (project_id, organisation_id),
    UNIQUE (project_id, position)
);
CREATE INDEX project_payers_org_idx ON project_payers(organisation_id);

CREATE TABLE payer_phases (
    payer_id   TEXT NOT NULL REFERENCES project_payers(id),
    starts_on  DATE NOT NULL,
    ends_on    DATE NOT NULL,
    share      TEXT NOT NULL,
    PRIMARY KEY (payer_id, starts_on)
);

CREATE TABLE payer_home_areas (
    payer_id   TEXT NOT NULL REFERENCES project_payers(id),
    area_code  TEXT NOT NULL,
    PRIMARY KEY (payer_id, area_code)
);

CREATE TABLE project_validators (
    project_id      TEXT NOT NULL REFERENCES projects(id),
    organisation_id TEXT NOT NULL REFERENCES organisations(id),
    PRIMARY KEY (project_id, organisation_id)
);

-- The rate card.
CREATE TABLE outcome_metrics (
    id                          TEXT PRIMARY KEY,
    project_id                  TEXT NOT NULL REFERENCES projects(id),
    position                    INTEGER NOT NULL,
    code                        TEXT NOT NULL,
    name                        TEXT NOT NULL,
    price_minor                 BIGINT NOT NULL CHECK (price_minor > 0),
    unit                        TEXT NOT NULL,
    max_units_per_participant   INTEGER,
    max_claims_per_participant  INTEGER NOT NULL,
    exclusive_group             TEXT,
    requires_outcome_code       TEXT,
    requires_min_days_after     INTEGER,
    volume_cap                  INTEGER,
    deadweight                  TEXT,
    min_age_at_start            INTEGER,
    max_age_at_start            INTEGER,
    UNIQUE (project_id, code)
);

-- Stored responses for retried writes (the Idempotency-Key header). The primary key, not a
-- check-then-insert, is what makes a concurrent retry lose the race.
CREATE TABLE idempotency_keys (
    principal       TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    response_status INTEGER NOT NULL,
    response_body   TEXT NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    PRIMARY KEY (principal, idempotency_key)
);
