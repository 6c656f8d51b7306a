DROP TABLE open_data_cap_states;
