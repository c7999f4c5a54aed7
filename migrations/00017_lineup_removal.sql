-- +goose Up
-- A line-up item taken out of its stream: by the host, whose brand may not
-- offer it there again, or by its brand, who may. Removed items stay, since
-- the stream's pins point at them and sales reports name them.
ALTER TABLE lineup_items
    ADD COLUMN removed_at      timestamptz,
    ADD COLUMN removed_by_host boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT lineup_items_removed_by_host CHECK (removed_at IS NOT NULL OR NOT removed_by_host);

-- +goose Down
ALTER TABLE lineup_items
    DROP COLUMN removed_by_host,
    DROP COLUMN removed_at;
