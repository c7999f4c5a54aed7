-- +goose Up
-- The stream stats projection, kept by the consumer group daihuo-stream-stats
-- from the order events (domain/report). It is fed by events only, so it has
-- no foreign keys into the tables the events come from.

-- Sales totals per stream (brand_id '') and per brand's items in a stream.
CREATE TABLE stream_stats (
    stream_id  text        NOT NULL,
    brand_id   text        NOT NULL DEFAULT '',
    currency   text        NOT NULL,
    orders     bigint      NOT NULL DEFAULT 0,
    gmv        bigint      NOT NULL DEFAULT 0,
    units      bigint      NOT NULL DEFAULT 0,
    buyers     bigint      NOT NULL DEFAULT 0,
    refunds    bigint      NOT NULL DEFAULT 0,
    commission bigint      NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (stream_id, brand_id)
);

-- The shoppers who bought in a stream (brand_id '') or bought a brand's
-- items in it: an insert that is not a conflict is a new buyer.
CREATE TABLE stream_stats_buyers (
    stream_id  text        NOT NULL,
    brand_id   text        NOT NULL DEFAULT '',
    shopper_id text        NOT NULL,
    first_at   timestamptz NOT NULL,
    PRIMARY KEY (stream_id, brand_id, shopper_id)
);

-- The paid orders counted, so one order is counted once whatever events say.
CREATE TABLE stream_stats_orders (
    order_id   text        PRIMARY KEY,
    stream_id  text        NOT NULL,
    shopper_id text        NOT NULL,
    paid_at    timestamptz NOT NULL
);

-- +goose Down
DROP TABLE stream_stats_orders;
DROP TABLE stream_stats_buyers;
DROP TABLE stream_stats;
