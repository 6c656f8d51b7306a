DROP TABLE document_sequences;
DROP TABLE document_events;
DROP TABLE document_payments;
DROP TABLE settlement_links;
DROP TABLE document_lines;
DROP TABLE settlement_documents;
ALTER TABLE projects DROP COLUMN payment_terms_days;
DROP INDEX allocations_payer_posted_idx;
ALTER TABLE allocations DROP COLUMN outcome_code;
