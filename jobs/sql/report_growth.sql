-- name: report_growth
-- grain: one row per subject with denials in the window or the window before it
-- param prev_since: timestamptz  -- start of the previous window of the same length
-- param since: timestamptz  -- exclusive lower bound of ts
-- param until: timestamptz  -- inclusive upper bound of ts
-- param host: varchar  -- only this host's records (NULL: every host)
SELECT
    subject,                                                        -- profile / domain
    count(*) FILTER (WHERE ts > $since) AS current,                 -- denials in the window
    count(*) FILTER (WHERE ts <= $since) AS previous,               -- denials in the window before
    count(DISTINCT host) FILTER (WHERE ts > $since) AS hosts        -- hosts with denials now
FROM report_events
WHERE decision = 'denied' AND ts > $prev_since AND ts <= $until AND ($host IS NULL OR host = $host)
GROUP BY subject
ORDER BY current - previous DESC, subject;
