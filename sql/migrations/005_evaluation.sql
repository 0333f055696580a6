-- LLM evaluation on prompt splits: runs, generations (resumable) and metrics.
CREATE TABLE eval_runs (
    eval_run_id VARCHAR PRIMARY KEY,
    model       VARCHAR NOT NULL,
    backend     VARCHAR NOT NULL,
    params_json VARCHAR NOT NULL,  -- every generation parameter, preset expanded
    split       VARCHAR NOT NULL,  -- how the prompts were chosen (JSON)
    scorer      VARCHAR NOT NULL,
    started_at  TIMESTAMP NOT NULL,
    finished_at TIMESTAMP
);

CREATE TABLE generations (
    eval_run_id VARCHAR NOT NULL,
    prompt_id   VARCHAR NOT NULL,
    sample_idx  INTEGER NOT NULL,
    text        VARCHAR,           -- NULL when generation failed
    toxicity    DOUBLE,            -- NULL when generation or scoring failed
    scorer      VARCHAR,
    error       VARCHAR,           -- why text or toxicity is missing
    truncated   BOOLEAN NOT NULL DEFAULT false,  -- prompt cut from the left to fit the context
    PRIMARY KEY (eval_run_id, prompt_id, sample_idx)
);

CREATE TABLE eval_metrics (
    eval_run_id VARCHAR NOT NULL,
    lang        VARCHAR NOT NULL,  -- 'all' for the aggregate
    bucket      VARCHAR NOT NULL,  -- bucket index, or 'all'
    metric      VARCHAR NOT NULL,  -- expected_max_toxicity | toxicity_probability | average_toxicity
    value       DOUBLE,
    ci_low      DOUBLE,
    ci_high     DOUBLE,
    n_prompts   INTEGER NOT NULL,
    n_failed    INTEGER NOT NULL,  -- continuations left out (failed generation or scoring)
    PRIMARY KEY (eval_run_id, lang, bucket, metric)
);
