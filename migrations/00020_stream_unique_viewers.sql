-- +goose Up
-- A stream's unique viewers once its viewer list is purged (a while after
-- it ended); NULL while stream_viewers still holds the list to count.
ALTER TABLE streams ADD COLUMN unique_viewers bigint CHECK (unique_viewers >= 0);

-- +goose Down
ALTER TABLE streams DROP COLUMN unique_viewers;
