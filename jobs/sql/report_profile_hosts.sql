-- name: report_profile_hosts
-- grain: one row per subject (profile / domain) of $subjects with events in the window
-- param since: timestamptz  -- exclusive lower bound of ts
-- param subjects: varchar[]  -- the profiles whose pages are written
SELECT
    subject,                                            -- profile / domain
    count(DISTINCT host) AS hosts,                      -- hosts with its events in the window
    list(DISTINCT host ORDER BY host)[1:20] AS host_sample  -- the first twenty, by name
FROM report_scope  -- the window and the one before it, of its host (report_scope.sql)
WHERE ts > $since
  AND list_contains(CAST($subjects AS VARCHAR[]), subject)  -- only the pages written
GROUP BY subject;
