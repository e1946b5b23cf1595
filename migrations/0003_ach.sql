-- ACH: what we originated (so returns find it), payees, blocked accounts, re-presentments,
-- applied corrections, and the outbox of domain events (published by the messaging issue).
-- Account numbers and names are sealed by the application (adapters/column_crypto.py);
-- only the last four digits and a keyed lookup hash are in the clear.

CREATE TABLE payees (
    payee_id        text PRIMARY KEY,
    partner_id      text NOT NULL,
    routing_number  text NOT NULL CHECK (routing_number ~ '^\d{9}$'),
    account_sealed  text NOT NULL,
    account_last4   text NOT NULL,
    account_lookup  text NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE originations (
    trace_number      text PRIMARY KEY CHECK (trace_number ~ '^\d{15}$'),
    partner_id        text NOT NULL,           -- the bank (its feed delivers returns)
    bank_feed         text NOT NULL,
    payee_id          text REFERENCES payees (payee_id),
    sec_code          text NOT NULL,
    transaction_code  int NOT NULL,
    amount_cents      bigint NOT NULL CHECK (amount_cents >= 0),
    routing_number    text NOT NULL CHECK (routing_number ~ '^\d{9}$'),
    account_last4     text NOT NULL,
    account_lookup    text NOT NULL,
    effective_date    date NOT NULL,
    settlement_date   date NOT NULL,
    entry_sealed      text NOT NULL,           -- the entry and its batch header, for re-presenting
    source            text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX originations_account ON originations (routing_number, account_lookup);

CREATE TABLE blocked_accounts (
    routing_number  text NOT NULL,
    account_lookup  text NOT NULL,
    account_last4   text NOT NULL,
    reason          text NOT NULL,
    trace_number    text NOT NULL,
    blocked_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (routing_number, account_lookup)
);

-- One row per (original entry, attempt): allocating the trace number and the file name once
-- makes the upload idempotent however often the activity runs.
CREATE SEQUENCE ach_trace_sequence MINVALUE 1 MAXVALUE 9999999 CYCLE;
CREATE TABLE ach_representments (
    original_trace  text NOT NULL REFERENCES originations (trace_number),
    number          int NOT NULL CHECK (number BETWEEN 1 AND 2),
    trace_number    text NOT NULL UNIQUE,
    effective_date  date NOT NULL,
    file_name       text NOT NULL UNIQUE,
    sha256          text,
    uploaded_at     timestamptz,
    PRIMARY KEY (original_trace, number)
);

CREATE TABLE ach_corrections (
    notice_id     text PRIMARY KEY,            -- NOC trace number, or operator decision id
    trace_number  text NOT NULL,
    source        text NOT NULL,               -- C01..C13 or operator
    fields_sealed text NOT NULL,
    due           date NOT NULL,
    applied_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE outbox_events (
    message_id   text PRIMARY KEY,             -- deterministic from the business key
    event_type   text NOT NULL,
    subject      text NOT NULL,
    payload      jsonb NOT NULL,               -- never raw PII
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished ON outbox_events (created_at) WHERE published_at IS NULL;
