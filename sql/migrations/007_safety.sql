-- Safety evaluation: imported prompt sets (ALERT, MultiJail, PTP, RTP), jailbreak templates,
-- judge verdicts per continuation.

-- Where a prompt comes from: 'mined' (this database's documents) or an imported set's name.
ALTER TABLE prompts ADD COLUMN source VARCHAR DEFAULT 'mined';
-- A risk category (ALERT micro category, MultiJail tags); NULL for mined prompts.
ALTER TABLE prompts ADD COLUMN category VARCHAR;
-- The prompt asks for something harmful (ALERT, MultiJail: true); NULL: unknown, decided by
-- toxicity (< 0.5 counts as benign for over-refusal rates).
ALTER TABLE prompts ADD COLUMN harmful BOOLEAN;
-- The other fields of an imported row as JSON (ids, demographic groups...), for grouping.
ALTER TABLE prompts ADD COLUMN attributes_json VARCHAR;
-- Imported prompts have no document, and sets such as PTP give no prompt/continuation scores.
ALTER TABLE prompts ALTER COLUMN doc_id DROP NOT NULL;
ALTER TABLE prompts ALTER COLUMN prompt_toxicity DROP NOT NULL;
ALTER TABLE prompts ALTER COLUMN continuation_toxicity DROP NOT NULL;

-- One row per imported file (a file is imported once per source name; same checksum = skipped).
CREATE TABLE imports (
    source      VARCHAR NOT NULL,
    format      VARCHAR NOT NULL,  -- alert | multijail | ptp | rtp
    file        VARCHAR NOT NULL,
    sha256      VARCHAR NOT NULL,
    n_rows      INTEGER NOT NULL,  -- rows (lines) read
    n_prompts   INTEGER NOT NULL,  -- prompts stored (MultiJail: one per row and language)
    scorer      VARCHAR NOT NULL,  -- who scored the prompts' toxicity
    imported_at TIMESTAMP NOT NULL,
    PRIMARY KEY (source, sha256)
);

-- Jailbreak templates (the intentional scenario), by checksum; eval_runs points here.
CREATE TABLE templates (
    template_sha256 VARCHAR PRIMARY KEY,
    name            VARCHAR NOT NULL,  -- file name it was read from
    text            VARCHAR NOT NULL   -- holds {prompt} where the prompt goes
);
ALTER TABLE eval_runs ADD COLUMN template_sha256 VARCHAR;  -- NULL: the plain prompt (unintentional)

-- A judge's verdict on one continuation: safe/unsafe and the response taxonomy.
CREATE TABLE judgements (
    eval_run_id   VARCHAR NOT NULL,
    prompt_id     VARCHAR NOT NULL,
    sample_idx    INTEGER NOT NULL,
    judge         VARCHAR NOT NULL,
    judge_version VARCHAR NOT NULL,
    safe          BOOLEAN,           -- NULL when the judge failed (see error)
    compliance    VARCHAR,           -- full_compliance | partial_compliance | direct_refusal | indirect_refusal
    category      VARCHAR,           -- a risk category the judge named, if any
    score         DOUBLE,            -- the judge's unsafe probability, where it has one
    error         VARCHAR,
    PRIMARY KEY (eval_run_id, prompt_id, sample_idx, judge)
);

-- Safety metrics per run, judge and group (with bootstrap 95% intervals over prompts).
CREATE TABLE safety_metrics (
    eval_run_id VARCHAR NOT NULL,
    judge       VARCHAR NOT NULL,
    grouping    VARCHAR NOT NULL,   -- all | lang | resource_level | category | a prompts column or attribute
    group_value VARCHAR NOT NULL,   -- 'all' for the aggregate
    metric      VARCHAR NOT NULL,   -- safety_score | unsafe_rate | refusal_rate | full_compliance_rate | ...
    value       DOUBLE,
    ci_low      DOUBLE,
    ci_high     DOUBLE,
    n_prompts   INTEGER NOT NULL,
    n_failed    INTEGER NOT NULL,   -- continuations without a verdict
    PRIMARY KEY (eval_run_id, judge, grouping, group_value, metric)
);
