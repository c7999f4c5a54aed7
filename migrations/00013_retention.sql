-- +goose Up
-- Rows kept only for a while are deleted by age (storage.Retention); these
-- indexes let each purge find its oldest rows without reading the table.
CREATE INDEX processed_events_age ON processed_events (processed_at);
CREATE INDEX order_payment_events_age ON order_payment_events (received_at);
CREATE INDEX payments_local_events_delivered ON payments_local_events (delivered_at) WHERE delivered_at IS NOT NULL;
CREATE INDEX stock_reservations_settled ON stock_reservations (created_at) WHERE status IN ('committed', 'released');

-- +goose Down
DROP INDEX stock_reservations_settled;
DROP INDEX payments_local_events_delivered;
DROP INDEX order_payment_events_age;
DROP INDEX processed_events_age;
