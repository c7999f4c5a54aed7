-- +goose NO TRANSACTION
-- +goose Up
-- The flash sales on screen by their end, for the sweep that takes ended
-- sales off the screen. Built CONCURRENTLY, not to stop pinning.
DROP INDEX CONCURRENTLY IF EXISTS pins_flash_due;
CREATE INDEX CONCURRENTLY pins_flash_due ON pins (flash_ends_at) WHERE unpinned_at IS NULL AND flash_ends_at IS NOT NULL;

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS pins_flash_due;
