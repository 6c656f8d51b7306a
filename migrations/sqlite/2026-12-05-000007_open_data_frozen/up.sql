-- Open data that no later release can difference. A project's quarter is published once it is
-- closed for claims, and its cells are then frozen as they were at that rebuild: the values
-- (what the disclosure auditor reasons about, withheld or not) and whether each block was
-- withheld. A published cell never changes and a withheld one stays withheld. Every total
-- ever published is kept too, since a reader may hold any earlier release.
CREATE TABLE open_data_frozen_quarters (
    project_id    TEXT NOT NULL REFERENCES projects(id),
    period_start  DATE NOT NULL,
    frozen_at     TIMESTAMP NOT NULL,
    PRIMARY KEY (project_id, period_start)
);

-- One outcome in one quarter as it stood when its quarter was frozen.
CREATE TABLE open_data_frozen_blocks (
    project_id             TEXT NOT NULL,
    period_start           DATE NOT NULL,
    outcome_code           TEXT NOT NULL,
    achieved_units         BIGINT NOT NULL,
    achieved_participants  BIGINT NOT NULL,
    paid_units             BIGINT NOT NULL,
    paid_participants      BIGINT NOT NULL,
    payable_units          BIGINT NOT NULL,
    payable_minor          BIGINT NOT NULL,
    engaged                BIGINT NOT NULL,
    withheld               BOOLEAN NOT NULL,
    PRIMARY KEY (project_id, period_start, outcome_code),
    FOREIGN KEY (project_id, period_start) REFERENCES open_data_frozen_quarters(project_id, period_start)
);

-- Each payer's money for a frozen block.
CREATE TABLE open_data_frozen_money (
    project_id             TEXT NOT NULL,
    period_start           DATE NOT NULL,
    outcome_code           TEXT NOT NULL,
    payer_organisation_id  TEXT NOT NULL,
    amount_minor           BIGINT NOT NULL,
    participants           BIGINT NOT NULL,
    PRIMARY KEY (project_id, period_start, outcome_code, payer_organisation_id),
    FOREIGN KEY (project_id, period_start, outcome_code)
        REFERENCES open_data_frozen_blocks(project_id, period_start, outcome_code)
);

-- Every payer's total and project's total ever published: the sum of the money of the blocks
-- frozen by `as_of`. `payer_organisation_id` is empty for the project's total.
CREATE TABLE open_data_published_totals (
    project_id             TEXT NOT NULL REFERENCES projects(id),
    payer_organisation_id  TEXT NOT NULL,
    as_of                  TIMESTAMP NOT NULL,
    amount_minor           BIGINT NOT NULL,
    PRIMARY KEY (project_id, payer_organisation_id, as_of)
);

CREATE TRIGGER open_data_frozen_quarters_immutable_update BEFORE UPDATE ON open_data_frozen_quarters
BEGIN SELECT RAISE(ABORT, 'published open data is frozen'); END;
CREATE TRIGGER open_data_frozen_quarters_immutable_delete BEFORE DELETE ON open_data_frozen_quarters
BEGIN SELECT RAISE(ABORT, 'published open data is frozen'); END;
CREATE TRIGGER open_data_frozen_blocks_immutable_update BEFORE UPDATE ON open_data_frozen_blocks
BEGIN SELECT RAISE(ABORT, 'published open data is frozen'); END;
CREATE TRIGGER open_data_frozen_blocks_immutable_delete BEFORE DELETE ON open_data_frozen_blocks
BEGIN SELECT RAISE(ABORT, 'published open data is frozen'); END;
CREATE TRIGGER open_data_frozen_money_immutable_update BEFORE UPDATE ON open_data_frozen_money
BEGIN SELECT RAISE(ABORT, 'published open data is frozen'); END;
CREATE TRIGGER open_data_frozen_money_immutable_delete BEFORE DELETE ON open_data_frozen_money
BEGIN SELECT RAISE(ABORT, 'published open data is frozen'); END;
CREATE TRIGGER open_data_published_totals_immutable_update BEFORE UPDATE ON open_data_published_totals
BEGIN SELECT RAISE(ABORT, 'published open data is frozen'); END;
CREATE TRIGGER open_data_published_totals_immutable_delete BEFORE DELETE ON open_data_published_totals
BEGIN SELECT RAISE(ABORT, 'published open data is frozen'); END;
