-- +goose Up
-- When a token was revoked. A revoked token is refused whatever the clock
-- of the node that checks it says (an expiry set to the revoking node's
-- clock would still pass on a node running behind).
ALTER TABLE tokens ADD COLUMN revoked_at timestamptz;

-- +goose Down
ALTER TABLE tokens DROP COLUMN revoked_at;
