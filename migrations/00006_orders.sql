-- +goose Up
-- Orders: what shoppers buy from a stream, the stock held for them, their
-- refunds, the provider webhooks already applied, and the api's
-- idempotency records.
CREATE TABLE orders (
    id                     text        PRIMARY KEY,
    shopper_id             text        NOT NULL REFERENCES shoppers (id),
    stream_id              text        NOT NULL REFERENCES streams (id),
    pin_id                 text        REFERENCES pins (id),
    creator_id             text        NOT NULL,
    agency_id              text,
    status                 text        NOT NULL CHECK (status IN ('pending_payment', 'paid', 'partially_refunded',
                               'refunded', 'cancelled', 'expired')),
    currency               char(3)     NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    total_amount           bigint      NOT NULL CHECK (total_amount > 0),
    paid_amount            bigint      NOT NULL DEFAULT 0 CHECK (paid_amount >= 0),
    refunded_amount        bigint      NOT NULL DEFAULT 0 CHECK (refunded_amount >= 0 AND refunded_amount <= paid_amount),
    ship_name              text        NOT NULL,
    ship_line1             text        NOT NULL,
    ship_city              text        NOT NULL,
    ship_postal_code       text        NOT NULL,
    ship_country           char(2)     NOT NULL,
    payment_provider       text        NOT NULL,
    payment_intent_id      text        NOT NULL,
    payment_client_secret  text        NOT NULL,
    payment_failure_code   text        NOT NULL DEFAULT '',
    payment_failure_reason text        NOT NULL DEFAULT '',
    close_reason           text        NOT NULL DEFAULT '',
    idempotency_key        text,
    expires_at             timestamptz NOT NULL,
    created_at             timestamptz NOT NULL,
    updated_at             timestamptz NOT NULL,
    paid_at                timestamptz,
    closed_at              timestamptz,
    CONSTRAINT orders_intent_key UNIQUE (payment_provider, payment_intent_id),
    CONSTRAINT orders_idempotency_key UNIQUE (shopper_id, idempotency_key),
    CHECK (status <> 'paid' OR paid_amount > 0)
);
CREATE INDEX orders_shopper ON orders (shopper_id, id);
CREATE INDEX orders_stream ON orders (stream_id, id);
CREATE INDEX orders_due ON orders (expires_at) WHERE status = 'pending_payment';

CREATE TABLE order_items (
    order_id       text    NOT NULL REFERENCES orders (id),
    position       integer NOT NULL,
    variant_id     text    NOT NULL REFERENCES variants (id),
    product_id     text    NOT NULL,
    brand_id       text    NOT NULL,
    quantity       bigint  NOT NULL CHECK (quantity BETWEEN 1 AND 100),
    unit_amount    bigint  NOT NULL CHECK (unit_amount > 0),
    commission_bps integer NOT NULL CHECK (commission_bps BETWEEN 0 AND 10000),
    flash          boolean NOT NULL,
    PRIMARY KEY (order_id, position)
);
CREATE INDEX order_items_brand ON order_items (brand_id, order_id);

-- Refunds, and the part of each booked to each brand. requested_by is the
-- brand id, 'admin', 'platform' (a late payment) or 'provider' (made at the
-- provider); the idempotency key is unique per order and requester.
CREATE TABLE order_refunds (
    id                 text        PRIMARY KEY,
    order_id           text        NOT NULL REFERENCES orders (id),
    requested_by       text        NOT NULL,
    idempotency_key    text        NOT NULL,
    amount             bigint      NOT NULL CHECK (amount > 0),
    currency           char(3)     NOT NULL,
    reason             text        NOT NULL,
    status             text        NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    provider_refund_id text        NOT NULL DEFAULT '',
    failure_reason     text        NOT NULL DEFAULT '',
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    CONSTRAINT order_refunds_key UNIQUE (order_id, requested_by, idempotency_key)
);
CREATE INDEX order_refunds_pending ON order_refunds (created_at) WHERE status = 'pending';

CREATE TABLE order_refund_lines (
    refund_id text   NOT NULL REFERENCES order_refunds (id),
    brand_id  text   NOT NULL,
    amount    bigint NOT NULL CHECK (amount > 0),
    PRIMARY KEY (refund_id, brand_id)
);

-- Stock held for orders. A reservation is 'held' from the batch that took
-- the stock until its order is recorded ('ordered'), 'committed' once paid,
-- 'released' when its stock went back. order_id has no foreign key: the
-- order row is written after its reservations.
CREATE TABLE stock_reservations (
    id          text        PRIMARY KEY,
    order_id    text        NOT NULL,
    shopper_id  text        NOT NULL,
    variant_id  text        NOT NULL REFERENCES variants (id),
    pin_id      text        REFERENCES pins (id),
    quantity    bigint      NOT NULL CHECK (quantity > 0),
    status      text        NOT NULL CHECK (status IN ('held', 'ordered', 'committed', 'released')),
    expires_at  timestamptz NOT NULL,
    created_at  timestamptz NOT NULL,
    released_at timestamptz
);
CREATE INDEX stock_reservations_order ON stock_reservations (order_id);
CREATE INDEX stock_reservations_orphans ON stock_reservations (expires_at) WHERE status = 'held';

-- Flash units each shopper holds or bought, for per-buyer limits. Changed
-- only by transactions that hold the pin's row lock, or that give units back.
CREATE TABLE flash_buyer_units (
    pin_id     text   NOT NULL REFERENCES pins (id),
    shopper_id text   NOT NULL,
    units      bigint NOT NULL CHECK (units >= 0),
    PRIMARY KEY (pin_id, shopper_id)
);

-- Provider webhook events already applied to orders.
CREATE TABLE order_payment_events (
    provider    text        NOT NULL,
    event_id    text        NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, event_id)
);

-- The api's Idempotency-Key records: scope is the caller and the route, the
-- request hash tells a retry from another request under the same key.
CREATE TABLE idempotency_keys (
    scope        text        NOT NULL,
    key          text        NOT NULL,
    request_hash bytea       NOT NULL,
    state        text        NOT NULL CHECK (state IN ('in_progress', 'done')),
    status       integer     NOT NULL DEFAULT 0,
    body         bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_age ON idempotency_keys (created_at);

-- +goose Down
DROP TABLE idempotency_keys;
DROP TABLE order_payment_events;
DROP TABLE flash_buyer_units;
DROP TABLE stock_reservations;
DROP TABLE order_refund_lines;
DROP TABLE order_refunds;
DROP TABLE order_items;
DROP TABLE orders;
