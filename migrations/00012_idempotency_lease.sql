-- +goose Up
-- A claim's lease: a retry that takes over a stale claim writes a new one,
-- so the first request, if it was only slow, can neither record its answer
-- over the retry's nor free the key under it.
ALTER TABLE idempotency_keys ADD COLUMN lease text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE idempotency_keys DROP COLUMN lease;
