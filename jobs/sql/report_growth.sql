-- name: report_growth
-- grain: one row per subject with denials in the window or the window before it
-- param prev_since: timestamptz  -- start of the previous window of the same length
-- param since: timestamptz  -- exclusive lower bound of ts
SELECT
    subject,                                                        -- profile / domain
    count(*) FILTER (WHERE ts > $since) AS current,                 -- denials in the window
    count(*) FILTER (WHERE ts <= $since) AS previous,               -- denials in the window before
    count(DISTINCT host) FILTER (WHERE ts > $since) AS hosts        -- hosts with denials now
FROM report_scope  -- the window and the one before it, of its host (report_scope.sql)
WHERE decision = 'denied' AND ts > $prev_since
GROUP BY subject
ORDER BY current - previous DESC, subject;
