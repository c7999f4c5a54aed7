-- +goose NO TRANSACTION
-- +goose Up
-- The ended streams whose list of viewers the retention has not purged
-- yet, by their end. Built CONCURRENTLY, not to stop the streams.
DROP INDEX CONCURRENTLY IF EXISTS streams_viewers_due;
CREATE INDEX CONCURRENTLY streams_viewers_due ON streams (ended_at) WHERE status = 'ended' AND viewers_purged_at IS NULL;

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS streams_viewers_due;
