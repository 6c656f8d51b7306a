DROP TABLE open_data_published_totals;
DROP TABLE open_data_frozen_money;
DROP TABLE open_data_frozen_blocks;
DROP TABLE open_data_frozen_quarters;
DROP FUNCTION cofund_open_data_frozen();
