-- The exact IEEE-754 bits of each metric value, so that bulk reads can move values as integers
-- (text formatting of REALs in SQL is not exact). NULL only for rows written before this migration.
ALTER TABLE metrics ADD COLUMN value_bits INTEGER;
