-- PSP webhooks: the inbox of verified events (a transactional outbox towards Temporal).
-- The API stores each verified event here in one INSERT ... ON CONFLICT DO NOTHING and answers
-- 2xx; relays/inbox.py forwards rows to the payout workflow by signal-with-start and
-- marks them forwarded only after the signal succeeded.
--
-- payload is the verified event as the PSP sent it. PSP events carry PSP data only (ids,
-- amounts, currencies, statuses, balance-transaction ids); they must hold no PII of ours, and no
-- card or bank details beyond what the PSP itself masks. Never log it; never copy it into
-- Temporal history (the relay sends a small PspEvent contract instead).

CREATE TABLE webhook_inbox (
    inbox_id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    provider            text NOT NULL CHECK (provider ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    event_id            text NOT NULL CHECK (event_id <> ''),
    event_type          text NOT NULL,
    payout_id           text,            -- NULL until the event is associated with a payout
    balance_transaction text,            -- the PSP's balance transaction, to associate later
    received_at         timestamptz NOT NULL DEFAULT now(),
    payload             jsonb NOT NULL,
    forward             boolean NOT NULL, -- false for event types we do not know: kept, not sent
    forwarded_at        timestamptz,
    attempts            int NOT NULL DEFAULT 0,
    next_attempt_at     timestamptz NOT NULL DEFAULT now(),  -- the relay's backoff
    last_error          text,
    -- A PSP redelivers the same event (same id): the second insert does nothing.
    UNIQUE (provider, event_id)
);

-- The relay's work queue: small, because forwarded rows drop out of it.
CREATE INDEX webhook_inbox_unforwarded ON webhook_inbox (next_attempt_at, received_at)
    WHERE forwarded_at IS NULL AND forward AND payout_id IS NOT NULL;
-- Events waiting for a payout: found by balance transaction when the payout's report arrives.
CREATE INDEX webhook_inbox_unassociated ON webhook_inbox (provider, balance_transaction)
    WHERE payout_id IS NULL;
CREATE INDEX webhook_inbox_payout ON webhook_inbox (provider, payout_id);
