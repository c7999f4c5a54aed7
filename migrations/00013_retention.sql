-- +goose NO TRANSACTION
-- +goose Up
-- Rows kept only for a while are deleted by age (storage.Retention); these
-- indexes let each purge find its oldest rows without reading the table.
-- Built CONCURRENTLY: these tables take writes on every order and event, and
-- may be large by now. A build that failed leaves an invalid index, dropped
-- first.
DROP INDEX CONCURRENTLY IF EXISTS processed_events_age;
CREATE INDEX CONCURRENTLY processed_events_age ON processed_events (processed_at);
DROP INDEX CONCURRENTLY IF EXISTS order_payment_events_age;
CREATE INDEX CONCURRENTLY order_payment_events_age ON order_payment_events (received_at);
DROP INDEX CONCURRENTLY IF EXISTS payments_local_events_delivered;
CREATE INDEX CONCURRENTLY payments_local_events_delivered ON payments_local_events (delivered_at) WHERE delivered_at IS NOT NULL;
DROP INDEX CONCURRENTLY IF EXISTS stock_reservations_settled;
CREATE INDEX CONCURRENTLY stock_reservations_settled ON stock_reservations (created_at) WHERE status IN ('committed', 'released');

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS stock_reservations_settled;
DROP INDEX CONCURRENTLY IF EXISTS payments_local_events_delivered;
DROP INDEX CONCURRENTLY IF EXISTS order_payment_events_age;
DROP INDEX CONCURRENTLY IF EXISTS processed_events_age;
