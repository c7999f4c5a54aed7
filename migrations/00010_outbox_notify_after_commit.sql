-- +goose Up
-- Relays are woken by a NOTIFY the service sends after the writing
-- transaction has committed (storage.Outbox). A NOTIFY inside the
-- transaction, as this trigger sent, makes Postgres serialise the commits
-- of all writers on one database-wide lock until each commit is flushed.
DROP TRIGGER outbox_notify ON outbox;
DROP FUNCTION outbox_notify();

-- +goose Down
-- +goose StatementBegin
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('daihuo_outbox', '');
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
