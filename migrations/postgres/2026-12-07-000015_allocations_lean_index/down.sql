CREATE INDEX allocations_open_data_idx
    ON allocations(project_id, outcome_code, payer_organisation_id, achieved_on, claim_id, amount_minor);
