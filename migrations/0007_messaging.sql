-- Azure messaging: consumer idempotency and Event Hubs checkpoints/ownership in PostgreSQL
-- (integrations/messaging). The app role gets DML through 0001's default privileges.

-- One row per message a consumer handled, keyed by its deterministic message id: the same
-- command or event delivered twice is handled once. source is 'servicebus:<queue>' or
-- 'eventhubs:<hub>/<consumer group>'. No payloads: ids only.
CREATE TABLE messaging_processed (
    source       text NOT NULL CHECK (source <> ''),
    message_id   text NOT NULL CHECK (message_id <> ''),
    event_type   text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, message_id)
);
CREATE INDEX messaging_processed_age ON messaging_processed (processed_at);

-- The azure-eventhub CheckpointStore interface: which consumer owns which partition (claimed
-- with an etag, optimistic concurrency), and where each partition was last checkpointed.
CREATE TABLE eventhub_ownership (
    fully_qualified_namespace text NOT NULL,
    eventhub_name             text NOT NULL,
    consumer_group            text NOT NULL,
    partition_id              text NOT NULL,
    owner_id                  text NOT NULL,
    etag                      uuid NOT NULL,
    last_modified_time        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (fully_qualified_namespace, eventhub_name, consumer_group, partition_id)
);

CREATE TABLE eventhub_checkpoints (
    fully_qualified_namespace text NOT NULL,
    eventhub_name             text NOT NULL,
    consumer_group            text NOT NULL,
    partition_id              text NOT NULL,
    "offset"                  text,
    sequence_number           bigint,
    updated_at                timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (fully_qualified_namespace, eventhub_name, consumer_group, partition_id)
);
