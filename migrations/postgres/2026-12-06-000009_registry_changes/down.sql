DROP TABLE registry_changes;
DROP FUNCTION cofund_registry_changes_append_only();
