-- +goose Up
-- The sweep sends again only the refunds the provider never acknowledged
-- (no provider refund id yet), least recently tried first; refunds pending
-- at the provider wait for its webhook.
DROP INDEX order_refunds_pending;
CREATE INDEX order_refunds_unsent ON order_refunds (updated_at) WHERE status = 'pending' AND provider_refund_id = '';

-- +goose Down
DROP INDEX order_refunds_unsent;
CREATE INDEX order_refunds_pending ON order_refunds (created_at) WHERE status = 'pending';
