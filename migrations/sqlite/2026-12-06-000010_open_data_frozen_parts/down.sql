ALTER TABLE open_data_frozen_money DROP COLUMN largest_part_minor;
ALTER TABLE open_data_frozen_money DROP COLUMN smallest_part_minor;
