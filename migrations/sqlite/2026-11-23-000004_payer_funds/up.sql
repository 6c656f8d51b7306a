-- A project may draw top-up from more than one central fund (Reconnections: CBO and the Social
-- Outcomes Fund). Each central_top_up payer names the fund it pays from; existing ones pay from
-- their project's fund, as they always did.
ALTER TABLE project_payers ADD COLUMN fund_id TEXT REFERENCES funds(id);
UPDATE project_payers
   SET fund_id = (SELECT projects.fund_id FROM projects WHERE projects.id = project_payers.project_id)
 WHERE role = 'central_top_up';
CREATE INDEX project_payers_by_fund ON project_payers (fund_id);
