-- PSP reports and bank statements handed to the Payout workflows by file intake.
--
-- A PSP's daily report arrives as parts (payouts, balance transactions, and with Stripe a
-- payout <-> balance-transaction link file), each through its own feed. When a day's report is
-- complete it is reconciled once, as a whole, and every payout's outcome is stored here; each
-- Payout workflow then reads its own row instead of re-reading a million-row file.

CREATE TABLE psp_report_parts (
    partner_id   text NOT NULL,
    report_date  date NOT NULL,
    part         text NOT NULL CHECK (part IN ('payouts', 'balance_transactions', 'links')),
    path         text NOT NULL,           -- the landed raw file (claim check)
    sha256       text NOT NULL,
    landed_at    timestamptz NOT NULL DEFAULT now(),
    -- A corrected part for the same day replaces the earlier one (and makes a new report id).
    PRIMARY KEY (partner_id, report_date, part)
);

CREATE TABLE psp_reports (
    report_id     text PRIMARY KEY,       -- sha256 over the parts' digests: same bytes, same id
    partner_id    text NOT NULL,
    report_date   date NOT NULL,
    payouts       int NOT NULL,
    exceptions    int NOT NULL,
    row_problems  int NOT NULL,
    reconciled_at timestamptz NOT NULL DEFAULT now(),
    handed_off    int NOT NULL DEFAULT 0  -- payouts signalled so far: a retry resumes here
);

CREATE TABLE payout_reconciliations (
    report_id  text NOT NULL REFERENCES psp_reports ON DELETE CASCADE,
    ordinal    int NOT NULL,              -- the payout's position in the report (hand-off order)
    payout_id  text NOT NULL,
    outcome    jsonb NOT NULL,            -- contracts: payouts.reconciliation (per payout)
    PRIMARY KEY (report_id, payout_id)
);
CREATE INDEX payout_reconciliations_order ON payout_reconciliations (report_id, ordinal);

CREATE TABLE bank_statement_files (
    sha256      text PRIMARY KEY,         -- a statement delivered twice is handed off once
    partner_id  text NOT NULL,
    path        text NOT NULL,
    credits     int NOT NULL,
    landed_at   timestamptz NOT NULL DEFAULT now(),
    signalled   int                       -- open payouts told of it; NULL until done
);
