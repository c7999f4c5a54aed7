-- +goose NO TRANSACTION
-- +goose Up
-- The token provisioned from DAIHUO_ADMIN_TOKEN is marked, so that a new
-- value retires the earlier ones at the next start. The partial index keeps
-- that lookup off the (large) rest of the table; built CONCURRENTLY, not to
-- stop sign-ups.
ALTER TABLE tokens ADD COLUMN IF NOT EXISTS operator boolean NOT NULL DEFAULT false;
DROP INDEX CONCURRENTLY IF EXISTS tokens_operator;
CREATE INDEX CONCURRENTLY tokens_operator ON tokens (id) WHERE operator;

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS tokens_operator;
ALTER TABLE tokens DROP COLUMN IF EXISTS operator;
