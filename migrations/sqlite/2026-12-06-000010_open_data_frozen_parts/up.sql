-- The least and the most a payer paid any one participant in a frozen block (NULL for blocks
-- frozen before this was kept, or where nobody was paid): the disclosure auditor reads from
-- them whether every outcome was paid the same, or all but the one a cap cut short.
ALTER TABLE open_data_frozen_money ADD COLUMN smallest_part_minor BIGINT;
ALTER TABLE open_data_frozen_money ADD COLUMN largest_part_minor BIGINT;
