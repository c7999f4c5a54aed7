-- +goose Up
-- The active flash pins of a product: a stock change of the product tells
-- their viewers how many units are still on sale.
CREATE INDEX pins_active_flash_product ON pins (product_id) WHERE flash_remaining IS NOT NULL AND unpinned_at IS NULL;

-- +goose Down
DROP INDEX pins_active_flash_product;
