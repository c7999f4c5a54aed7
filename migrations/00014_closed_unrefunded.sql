-- +goose NO TRANSACTION
-- +goose Up
-- Cancelled or expired orders still holding a payment (a late payment whose
-- refund the provider refused), counted for daihuo_late_payments_unrefunded;
-- and the refunds pending at the provider, which the sweep asks about when
-- their webhook is late. Built CONCURRENTLY, not to stop order writes.
DROP INDEX CONCURRENTLY IF EXISTS orders_closed_unrefunded;
CREATE INDEX CONCURRENTLY orders_closed_unrefunded ON orders (id)
    WHERE status IN ('cancelled', 'expired') AND paid_amount > refunded_amount;
DROP INDEX CONCURRENTLY IF EXISTS order_refunds_acknowledged;
CREATE INDEX CONCURRENTLY order_refunds_acknowledged ON order_refunds (updated_at)
    WHERE status = 'pending' AND provider_refund_id <> '';

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS order_refunds_acknowledged;
DROP INDEX CONCURRENTLY IF EXISTS orders_closed_unrefunded;
