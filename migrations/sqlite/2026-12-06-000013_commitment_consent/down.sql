DROP TABLE commitment_events;
ALTER TABLE project_payers DROP COLUMN commitment;
