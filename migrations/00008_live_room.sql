-- +goose Up
-- What happens in a live room besides pins: chat with moderation, likes,
-- and presence (viewers per node, peak and unique viewers per stream).
ALTER TABLE streams
    ADD COLUMN likes          bigint NOT NULL DEFAULT 0 CHECK (likes >= 0),
    ADD COLUMN peak_viewers   bigint NOT NULL DEFAULT 0 CHECK (peak_viewers >= 0);

CREATE TABLE chat_messages (
    id         text        PRIMARY KEY,
    stream_id  text        NOT NULL REFERENCES streams (id),
    shopper_id text        NOT NULL REFERENCES shoppers (id),
    text       text        NOT NULL,
    created_at timestamptz NOT NULL,
    offset_ms  bigint      NOT NULL,
    deleted_at timestamptz,
    deleted_by text
);
CREATE INDEX chat_messages_stream ON chat_messages (stream_id, id);
CREATE INDEX chat_messages_rate ON chat_messages (stream_id, shopper_id, created_at);

CREATE TABLE stream_mutes (
    stream_id  text        NOT NULL REFERENCES streams (id),
    shopper_id text        NOT NULL REFERENCES shoppers (id),
    muted_by   text        NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (stream_id, shopper_id)
);

-- One row per node and stream, refreshed every few seconds by each node's
-- presence loop; rows not refreshed recently no longer count.
CREATE UNLOGGED TABLE stream_presence (
    node_id   text        NOT NULL,
    stream_id text        NOT NULL,
    viewers   bigint      NOT NULL CHECK (viewers >= 0),
    seen_at   timestamptz NOT NULL,
    PRIMARY KEY (stream_id, node_id)
);

-- Every distinct viewer of a stream, for unique-viewer counts.
CREATE TABLE stream_viewers (
    stream_id  text        NOT NULL REFERENCES streams (id),
    viewer_key text        NOT NULL,
    first_seen timestamptz NOT NULL,
    PRIMARY KEY (stream_id, viewer_key)
);

-- +goose Down
DROP TABLE stream_viewers;
DROP TABLE stream_presence;
DROP TABLE stream_mutes;
DROP TABLE chat_messages;
ALTER TABLE streams DROP COLUMN peak_viewers, DROP COLUMN likes;
