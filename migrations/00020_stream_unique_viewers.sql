-- +goose Up
-- A stream's unique viewers, counted when the retention purges its list of
-- viewers (a while after it ended), and when that purge finished; both NULL
-- while stream_viewers holds the list. The check is NOT VALID: the column
-- is new, so every existing row holds NULL, and validating would only scan
-- streams under this migration's lock.
ALTER TABLE streams ADD COLUMN unique_viewers bigint, ADD COLUMN viewers_purged_at timestamptz;
ALTER TABLE streams ADD CONSTRAINT streams_unique_viewers_check CHECK (unique_viewers >= 0) NOT VALID;

-- +goose Down
ALTER TABLE streams DROP COLUMN viewers_purged_at, DROP COLUMN unique_viewers;
