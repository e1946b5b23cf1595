-- The outbox relay (relays/outbox.py): per-row backoff and the last error,
-- so a Service Bus outage leaves rows waiting (attempts counted) instead of lost or hot-looped.
-- A row that can never become a valid envelope is parked with next_attempt_at = 'infinity'
-- and its reason in last_error, for ops; published_at (0003) marks what went out.

ALTER TABLE outbox_events
    ADD COLUMN attempts        int NOT NULL DEFAULT 0,
    ADD COLUMN next_attempt_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN last_error      text;

-- What the relay claims: unpublished rows whose backoff has passed, oldest first.
DROP INDEX outbox_unpublished;
CREATE INDEX outbox_unpublished ON outbox_events (next_attempt_at, created_at)
    WHERE published_at IS NULL;
