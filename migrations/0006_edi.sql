-- EDI X12 control numbers, per partner: the idempotency keys of EDI (X12.5 / X12.6).
--
-- Inbound: every interchange (ISA13), group (GS06) and transaction set (ST02) a partner sent
-- is recorded once, with the digest of the file that brought it first. The same ISA13 in
-- another file is a repeat: it is acknowledged again but not processed twice.
CREATE TABLE edi_inbound_interchanges (
    partner_id      text NOT NULL CHECK (partner_id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    isa13           bigint NOT NULL CHECK (isa13 BETWEEN 0 AND 999999999),
    sender          text NOT NULL,            -- ISA06, as sent
    file_sha256     text NOT NULL,            -- the file that brought it first
    landing_path    text,
    received_at     timestamptz NOT NULL DEFAULT now(),
    repeats         int NOT NULL DEFAULT 0,   -- times it came again in another file
    last_repeat_at  timestamptz,
    PRIMARY KEY (partner_id, isa13)
);

CREATE TABLE edi_inbound_sets (
    partner_id      text NOT NULL,
    isa13           bigint NOT NULL,
    gs06            text NOT NULL,
    st02            text NOT NULL,
    set_id          text NOT NULL,            -- ST01, e.g. 834
    ack_code        text NOT NULL CHECK (ack_code IN ('A', 'E', 'P', 'R')),
    PRIMARY KEY (partner_id, isa13, gs06, st02),
    FOREIGN KEY (partner_id, isa13) REFERENCES edi_inbound_interchanges ON DELETE CASCADE
);

-- Outbound: our own interchange control numbers, one counter row per partner. Allocation is a
-- single UPDATE ... RETURNING (row lock), so concurrent workers never get the same number and
-- a number is never handed out twice (a rolled-back allocation leaves a gap, which X12 allows).
CREATE TABLE edi_outbound_counters (
    partner_id      text PRIMARY KEY CHECK (partner_id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    last_number     bigint NOT NULL DEFAULT 0 CHECK (last_number BETWEEN 0 AND 999999999)
);

-- What each allocated number is for. ``purpose`` is a business key (e.g. "ack:<sha256>:0"):
-- a retried activity asks again for the same purpose and gets the same number back.
CREATE TABLE edi_outbound_interchanges (
    partner_id      text NOT NULL,
    control_number  bigint NOT NULL,
    purpose         text NOT NULL,
    allocated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (partner_id, control_number),
    UNIQUE (partner_id, purpose)
);
