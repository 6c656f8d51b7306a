DELETE FROM published_tables WHERE id = 'adjustments';
DROP TABLE published_adjustments;
DROP TABLE open_data_adjustment_money;
DROP TABLE open_data_adjustments;
DROP TABLE open_data_adjustment_rounds;
