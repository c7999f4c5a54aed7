-- +goose Up
-- The live room: streams hosted by creators, the products brands offer in
-- them, and the pins (optionally flash sales) shown on every player.
CREATE TABLE streams (
    id           text        PRIMARY KEY,
    creator_id   text        NOT NULL REFERENCES creators (id),
    agency_id    text        REFERENCES agencies (id),
    title        text        NOT NULL,
    currency     char(3)     NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    status       text        NOT NULL CHECK (status IN ('scheduled', 'live', 'ended')),
    playback_url text        NOT NULL DEFAULT '',
    scheduled_at timestamptz,
    started_at   timestamptz,
    ended_at     timestamptz,
    created_at   timestamptz NOT NULL,
    CHECK (status = 'scheduled' OR status = 'ended' OR started_at IS NOT NULL),
    CHECK (status <> 'ended' OR ended_at IS NOT NULL)
);
CREATE INDEX streams_creator ON streams (creator_id, id);
CREATE INDEX streams_agency ON streams (agency_id, id) WHERE agency_id IS NOT NULL;

CREATE TABLE lineup_items (
    stream_id      text        NOT NULL REFERENCES streams (id),
    product_id     text        NOT NULL REFERENCES products (id),
    brand_id       text        NOT NULL REFERENCES brands (id),
    commission_bps integer     NOT NULL CHECK (commission_bps BETWEEN 0 AND 10000),
    added_at       timestamptz NOT NULL,
    PRIMARY KEY (stream_id, product_id)
);
CREATE INDEX lineup_items_brand ON lineup_items (brand_id, stream_id);

CREATE TABLE pins (
    id                    text        PRIMARY KEY,
    stream_id             text        NOT NULL REFERENCES streams (id),
    product_id            text        NOT NULL,
    brand_id              text        NOT NULL,
    flash_price_amount    bigint      CHECK (flash_price_amount > 0),
    flash_price_currency  char(3),
    flash_quantity        bigint      CHECK (flash_quantity > 0),
    flash_remaining       bigint      CHECK (flash_remaining >= 0 AND flash_remaining <= flash_quantity),
    flash_per_buyer_limit bigint      CHECK (flash_per_buyer_limit >= 0),
    flash_ends_at         timestamptz,
    pinned_at             timestamptz NOT NULL,
    offset_ms             bigint      NOT NULL CHECK (offset_ms >= 0),
    unpinned_at           timestamptz,
    unpin_offset_ms       bigint,
    FOREIGN KEY (stream_id, product_id) REFERENCES lineup_items (stream_id, product_id),
    CHECK ((flash_quantity IS NULL) = (flash_remaining IS NULL)),
    CHECK ((flash_quantity IS NULL) = (flash_ends_at IS NULL))
);
CREATE INDEX pins_active ON pins (stream_id, pinned_at) WHERE unpinned_at IS NULL;
CREATE INDEX pins_stream ON pins (stream_id, pinned_at);

-- +goose Down
DROP TABLE pins;
DROP TABLE lineup_items;
DROP TABLE streams;
