-- As 0002 for the latest value per key: exact values in packed reads (search results, get_run).
ALTER TABLE latest_metrics ADD COLUMN value_bits INTEGER;
