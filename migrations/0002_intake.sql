-- File intake: feeds with their high-water marks, one decision per file, row keys for
-- windowed de-duplication, and SLA breaches (one per feed and day).

CREATE TABLE feeds (
    partner_id     text NOT NULL REFERENCES partners (partner_id),
    feed           text NOT NULL CHECK (feed ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    config         jsonb NOT NULL,          -- contracts: intake.feed_config
    status         text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused', 'retired')),
    last_sequence  bigint,                  -- high-water mark of the naming contract's sequence
    last_file_at   timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (partner_id, feed)
);

-- Every file the intake decided on, once per (feed, remote name, content).
CREATE TABLE intake_events (
    intake_event_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    partner_id      text NOT NULL,
    feed            text NOT NULL,
    remote_name     text NOT NULL,
    sha256          text NOT NULL,
    size_bytes      bigint NOT NULL,
    outcome         text NOT NULL CHECK (outcome IN ('landed', 'duplicate', 'quarantined')),
    reason          text NOT NULL DEFAULT '',
    rows_total      bigint,
    rows_invalid    bigint,
    rows_duplicate  bigint,
    sequence        bigint,
    received_at     timestamptz NOT NULL,
    decided_at      timestamptz NOT NULL DEFAULT now(),
    latency_ms      bigint,
    on_time         boolean,
    schema_drift    boolean NOT NULL DEFAULT false,
    workflow_id     text NOT NULL,
    details         jsonb NOT NULL DEFAULT '{}'::jsonb,
    UNIQUE (partner_id, feed, remote_name, sha256),
    FOREIGN KEY (partner_id, feed) REFERENCES feeds (partner_id, feed)
);
CREATE INDEX intake_events_feed_time ON intake_events (partner_id, feed, decided_at);

-- Natural keys of landed rows, for de-duplication across files inside a window.
CREATE TABLE intake_row_keys (
    partner_id  text NOT NULL,
    feed        text NOT NULL,
    key_hash    bytea NOT NULL,
    file_sha256 text NOT NULL,
    seen_at     timestamptz NOT NULL,
    PRIMARY KEY (partner_id, feed, key_hash)
);

CREATE TABLE sla_breaches (
    partner_id  text NOT NULL,
    feed        text NOT NULL,
    day         date NOT NULL,
    deadline    timestamptz NOT NULL,
    raised_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (partner_id, feed, day),
    FOREIGN KEY (partner_id, feed) REFERENCES feeds (partner_id, feed)
);
