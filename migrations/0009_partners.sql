-- Partner onboarding: the registry of partners' onboarding stage, runbook, definition and keys.
-- Key material is never stored here: private keys are files (0600) in the SFTP keys volume
-- (INTEGRATIONS_SFTP_KEYS_DIR), which the file workers already mount as a secret; this table
-- holds each key's file name, public half, fingerprint and lifecycle. The audit trail stays in
-- audit_log (append-only), and offboarding keeps every row: it revokes, it never deletes.

ALTER TABLE partners
    ADD COLUMN stage      text NOT NULL DEFAULT 'registered'
        CHECK (stage IN ('registered', 'credentials', 'test_exchange', 'approvals', 'live',
                         'offboarded')),
    ADD COLUMN runbook    jsonb NOT NULL DEFAULT '{}'::jsonb,
    ADD COLUMN definition jsonb,          -- contracts: partners.definition (contacts are PII)
    ADD COLUMN host_key_fingerprint text,
    ADD COLUMN pgp_fingerprint text CHECK (pgp_fingerprint ~ '^[0-9A-F]{40}$');

CREATE TABLE partner_keys (
    partner_id   text NOT NULL REFERENCES partners (partner_id),
    key_name     text NOT NULL CHECK (key_name ~ '^[A-Za-z0-9._-]{1,100}$'),
    kind         text NOT NULL DEFAULT 'ssh' CHECK (kind IN ('ssh')),
    public_key   text NOT NULL,
    fingerprint  text NOT NULL,
    status       text NOT NULL CHECK (status IN ('issued', 'active', 'revoked')),
    issued_at    timestamptz NOT NULL,   -- workflow time: rotations are on a durable timer
    active_at    timestamptz,
    revoked_at   timestamptz,
    PRIMARY KEY (partner_id, key_name)
);

-- At most one key per partner is the one the feeds use.
CREATE UNIQUE INDEX partner_keys_one_active ON partner_keys (partner_id) WHERE status = 'active';
