-- name: report_loss
-- grain: one row per (host, source, kind) of counted loss in the window
-- param since: timestamptz  -- exclusive lower bound of ts
-- param until: timestamptz  -- inclusive upper bound of ts
-- param host: varchar  -- only this host's records (NULL: every host)
SELECT
    host,                             -- host that lost records
    source,                           -- where: audit.log, journald, ...
    kind,                             -- kernel_lost, journald_suppressed, source_blind, ...
    sum("count") AS lost,             -- records lost (as counted by the source)
    count(*) AS occurrences,          -- loss records
    timezone('UTC', max(ts)) AS last_seen,         -- latest loss record
    any_value(detail) AS detail       -- one example detail line
FROM loss
WHERE ts > $since AND ts <= $until AND ($host IS NULL OR host = $host)
GROUP BY host, source, kind
ORDER BY lost DESC, host, kind;
