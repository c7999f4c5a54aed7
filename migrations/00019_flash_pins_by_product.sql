-- +goose NO TRANSACTION
-- +goose Up
-- The active flash pins of a product: a stock change of the product tells
-- their viewers how many units are still on sale. Built CONCURRENTLY, not
-- to stop pinning.
DROP INDEX CONCURRENTLY IF EXISTS pins_active_flash_product;
CREATE INDEX CONCURRENTLY pins_active_flash_product ON pins (product_id) WHERE flash_remaining IS NOT NULL AND unpinned_at IS NULL;

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS pins_active_flash_product;
