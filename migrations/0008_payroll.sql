-- Payroll runs: one row per run (workflow id), the run's employees with their PII sealed by the
-- application (adapters/column_crypto.py, same key ring as Temporal payloads; only the last
-- four digits and a keyed lookup hash are in the clear), and the block of ACH trace numbers each
-- run's direct-deposit file uses (so a rebuild gives the same entries and runs never collide).

CREATE TABLE payroll_runs (
    run_id           text PRIMARY KEY,          -- payroll-<company>-<period start>[-c<n>]
    company_id       text NOT NULL,
    period_start     date NOT NULL,
    period_end       date NOT NULL,
    pay_date         date NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('regular', 'adjustment', 'reversal')),
    correction_of    text REFERENCES payroll_runs (run_id),  -- corrections never edit a run
    status           text NOT NULL,
    submitted_by     text NOT NULL,
    decided_by       text,
    decision_reason  text,
    provider_run_id  text,
    employees        int,
    net_cents        bigint,
    exceptions       int,
    nacha_file       text,
    nacha_sha256     text,
    gl_file          text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'regular') = (correction_of IS NULL))
);
CREATE INDEX payroll_runs_company ON payroll_runs (company_id, period_start);

CREATE TABLE payroll_employees (
    run_id            text NOT NULL REFERENCES payroll_runs (run_id),
    seq               int NOT NULL,              -- roster order: batches are seq ranges
    employee_id       text NOT NULL,
    name_sealed       text NOT NULL,
    ssn_sealed        text NOT NULL,
    ssn_last4         text NOT NULL,
    routing_number    text NOT NULL CHECK (routing_number ~ '^\d{9}$'),
    account_sealed    text NOT NULL,
    account_last4     text NOT NULL,
    account_lookup    text NOT NULL,
    account_type      text NOT NULL,
    state             text NOT NULL,
    pay_type          text NOT NULL,
    rate_cents        bigint NOT NULL,
    hours             numeric(8, 2) NOT NULL,
    bonus_cents       bigint NOT NULL,
    deductions_cents  bigint NOT NULL,
    expected_net_cents bigint NOT NULL,
    PRIMARY KEY (run_id, employee_id),
    UNIQUE (run_id, seq)
);

CREATE TABLE payroll_trace_blocks (
    run_id          text PRIMARY KEY REFERENCES payroll_runs (run_id),
    odfi            text NOT NULL CHECK (odfi ~ '^\d{8}$'),
    first_sequence  int NOT NULL CHECK (first_sequence >= 1),
    entries         int NOT NULL CHECK (entries >= 0),
    CHECK (first_sequence + entries <= 10000000)
);
CREATE INDEX payroll_trace_blocks_odfi ON payroll_trace_blocks (odfi, first_sequence);
