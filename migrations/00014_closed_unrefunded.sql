-- +goose Up
-- Cancelled or expired orders still holding a payment (a late payment whose
-- refund the provider refused), counted for daihuo_late_payments_unrefunded.
CREATE INDEX orders_closed_unrefunded ON orders (id)
    WHERE status IN ('cancelled', 'expired') AND paid_amount > refunded_amount;

-- +goose Down
DROP INDEX orders_closed_unrefunded;
