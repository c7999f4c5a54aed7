-- +goose Up
-- The local payment simulator's state (payments/local), shared by every node
-- and kept across restarts: what Stripe would keep on its side. Idempotency
-- keys are unique per kind of object; NULL means the request had none.
CREATE TABLE payments_local_intents (
    id              text        PRIMARY KEY,
    client_secret   text        NOT NULL,
    idempotency_key text        UNIQUE,
    amount          bigint      NOT NULL CHECK (amount > 0),
    currency        char(3)     NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    description     text        NOT NULL DEFAULT '',
    metadata        jsonb       NOT NULL DEFAULT '{}',
    status          text        NOT NULL CHECK (status IN ('requires_payment_method', 'requires_confirmation',
                        'requires_action', 'processing', 'requires_capture', 'canceled', 'succeeded')),
    failure_code    text        NOT NULL DEFAULT '',
    failure_message text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);

CREATE TABLE payments_local_refunds (
    id              text        PRIMARY KEY,
    idempotency_key text        UNIQUE,
    intent_id       text        NOT NULL REFERENCES payments_local_intents (id),
    amount          bigint      NOT NULL CHECK (amount > 0),
    currency        char(3)     NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    reason          text        NOT NULL DEFAULT '',
    status          text        NOT NULL CHECK (status IN ('pending', 'requires_action', 'succeeded', 'failed', 'canceled')),
    metadata        jsonb       NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL
);
CREATE INDEX payments_local_refunds_intent ON payments_local_refunds (intent_id, created_at);

CREATE TABLE payments_local_transfers (
    id              text        PRIMARY KEY,
    idempotency_key text        UNIQUE,
    destination     text        NOT NULL,
    amount          bigint      NOT NULL CHECK (amount > 0),
    currency        char(3)     NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    description     text        NOT NULL DEFAULT '',
    metadata        jsonb       NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL
);

-- Webhook events waiting for delivery, or delivered. The payload is the exact
-- event JSON; it is signed afresh at every attempt. next_attempt_at doubles as
-- the claim: a node taking an event pushes it forward by a lease.
CREATE TABLE payments_local_events (
    id              text        PRIMARY KEY,
    type            text        NOT NULL,
    payload         bytea       NOT NULL,
    created_at      timestamptz NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL,
    delivered_at    timestamptz,
    last_error      text        NOT NULL DEFAULT ''
);
CREATE INDEX payments_local_events_due ON payments_local_events (next_attempt_at) WHERE delivered_at IS NULL;

-- +goose Down
DROP TABLE payments_local_events;
DROP TABLE payments_local_transfers;
DROP TABLE payments_local_refunds;
DROP TABLE payments_local_intents;
