-- How each payment settled its document: money paid by the recipient (`payment`), a credit
-- note paid back by its issuer (`refund`, kept negative as the credit note's total is), or a
-- credit note set against an invoice or top-up claim of the same parties (`set_off`: one row
-- on each, naming the other).
ALTER TABLE document_payments ADD COLUMN settled_by TEXT NOT NULL DEFAULT 'payment';
ALTER TABLE document_payments ADD COLUMN counterpart_document_id TEXT;
