ALTER TABLE document_payments DROP COLUMN counterpart_document_id;
ALTER TABLE document_payments DROP COLUMN settled_by;
