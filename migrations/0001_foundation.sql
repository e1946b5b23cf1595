-- Foundation: partners, the file manifest and the operator audit log.
-- Runs as integrations_owner; the service connects as integrations_app with DML rights only.

ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO integrations_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO integrations_app;

CREATE TABLE partners (
    partner_id   text PRIMARY KEY CHECK (partner_id ~ '^[a-z0-9][a-z0-9_-]{1,62}$'),
    display_name text NOT NULL,
    status       text NOT NULL DEFAULT 'registered'
                 CHECK (status IN ('registered', 'testing', 'live', 'suspended', 'offboarded')),
    contacts     jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- One row per distinct file content: the digest is the idempotency key of intake.
CREATE TABLE file_manifest (
    file_id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sha256          text NOT NULL UNIQUE CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    partner_id      text NOT NULL REFERENCES partners (partner_id),
    feed            text NOT NULL,
    source_name     text NOT NULL,
    size_bytes      bigint NOT NULL CHECK (size_bytes >= 0),
    received_at     timestamptz NOT NULL,
    status          text NOT NULL CHECK (status IN ('landed', 'quarantined')),
    landing_path    text,
    pgp_fingerprint text,
    contract_name   text,
    schema_version  text,
    rows_total      bigint,
    rows_valid      bigint,
    rows_invalid    bigint,
    details         jsonb NOT NULL DEFAULT '{}'::jsonb,
    recorded_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX file_manifest_feed_received ON file_manifest (partner_id, feed, received_at);

-- Who did what, when and why. Append-only for the service: an activity retried after a crash
-- writes the same event_id again and the insert does nothing.
CREATE TABLE audit_log (
    audit_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id  text NOT NULL UNIQUE,
    at        timestamptz NOT NULL DEFAULT now(),
    actor     text NOT NULL CHECK (actor <> ''),
    action    text NOT NULL,
    subject   text NOT NULL,
    reason    text NOT NULL DEFAULT '',
    details   jsonb NOT NULL DEFAULT '{}'::jsonb
);
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM integrations_app;
