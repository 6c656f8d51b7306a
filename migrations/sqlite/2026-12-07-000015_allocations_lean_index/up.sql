-- Verification appends every allocation at the end of the table and of its other indexes, but
-- this index put each one at its outcome, payer and achievement date: a batch of 200,000
-- allocations touched nearly every page of an index that grows with the ledger (600 MB at four
-- million allocations), so each verification wrote more than the last. The open-data rebuild,
-- which it served, reads every allocation of the published projects once and does as well
-- from the table itself.
DROP INDEX allocations_open_data_idx;
