DROP INDEX project_payers_by_fund;
ALTER TABLE project_payers DROP COLUMN fund_id;
