DROP TABLE commitment_events;
DROP FUNCTION cofund_commitment_events_append_only();
ALTER TABLE project_payers DROP COLUMN commitment;
