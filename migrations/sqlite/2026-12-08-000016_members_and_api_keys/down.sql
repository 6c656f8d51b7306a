DROP TABLE audit_events;
DROP TABLE api_keys;
DROP TABLE members;
