-- Languages and their resource level, for reports that group by it (PTP, MultiJail).
-- Seeded with the 17 PolygloToxicityPrompts languages and the 10 MultiJail languages. The levels
-- follow MultiJail (Deng et al., 2024), which classes languages by their share of Common Crawl:
-- high (> 1%), medium (0.1% - 1%), low (< 0.1%); en zh it vi high, ar ko th medium, bn sw jv low.
-- The PTP languages are placed by the same rule; hi and cs, which PTP reports as lacking
-- high-quality data, are medium. Users add or change rows (`toxmine languages --set hi=low`).
CREATE TABLE languages (
    lang           VARCHAR PRIMARY KEY,  -- ISO 639-1 where one exists, as stored in documents.lang
    name           VARCHAR NOT NULL,
    resource_level VARCHAR NOT NULL CHECK (resource_level IN ('high', 'medium', 'low')),
    basis          VARCHAR NOT NULL      -- where the level comes from
);

INSERT INTO languages VALUES
    ('en', 'English',    'high',   'MultiJail'),
    ('zh', 'Chinese',    'high',   'MultiJail'),
    ('it', 'Italian',    'high',   'MultiJail'),
    ('vi', 'Vietnamese', 'high',   'MultiJail'),
    ('ar', 'Arabic',     'medium', 'MultiJail'),
    ('ko', 'Korean',     'medium', 'MultiJail'),
    ('th', 'Thai',       'medium', 'MultiJail'),
    ('bn', 'Bengali',    'low',    'MultiJail'),
    ('sw', 'Swahili',    'low',    'MultiJail'),
    ('jv', 'Javanese',   'low',    'MultiJail'),
    ('de', 'German',     'high',   'Common Crawl share'),
    ('es', 'Spanish',    'high',   'Common Crawl share'),
    ('fr', 'French',     'high',   'Common Crawl share'),
    ('ja', 'Japanese',   'high',   'Common Crawl share'),
    ('ru', 'Russian',    'high',   'Common Crawl share'),
    ('pt', 'Portuguese', 'high',   'Common Crawl share'),
    ('nl', 'Dutch',      'high',   'Common Crawl share'),
    ('pl', 'Polish',     'high',   'Common Crawl share'),
    ('id', 'Indonesian', 'medium', 'Common Crawl share'),
    ('sv', 'Swedish',    'medium', 'Common Crawl share'),
    ('cs', 'Czech',      'medium', 'Common Crawl share; PTP: little high-quality data'),
    ('hi', 'Hindi',      'medium', 'Common Crawl share; PTP: little high-quality data');

-- Evaluation metrics with the model and resource level beside them, for analysts.
CREATE OR REPLACE VIEW eval_summary AS
SELECT r.model, r.backend, m.eval_run_id, m.lang,
       coalesce(l.resource_level, CASE WHEN m.lang = 'all' THEN 'all' ELSE 'unknown' END) AS resource_level,
       m.bucket, m.metric, m.value, m.ci_low, m.ci_high, m.n_prompts, m.n_failed
FROM eval_metrics m
JOIN eval_runs r USING (eval_run_id)
LEFT JOIN languages l USING (lang);
