DROP TABLE running_totals;
DROP TABLE ledger_postings;
DROP TABLE allocations;
DROP FUNCTION cofund_append_only();
DROP TABLE claim_adjustments;
DROP TABLE claims;
DROP TABLE bulk_uploads;
