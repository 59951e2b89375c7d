-- name: report_profile_hosts
-- grain: one row per subject (profile / domain) of $subjects with events in the window
-- param since: timestamptz  -- exclusive lower bound of ts
-- param until: timestamptz  -- inclusive upper bound of ts
-- param subjects: varchar[]  -- the profiles whose pages are written
-- param host: varchar  -- only this host's records (NULL: every host)
SELECT
    subject,                                            -- profile / domain
    count(DISTINCT host) AS hosts,                      -- hosts with its events in the window
    list(DISTINCT host ORDER BY host)[1:20] AS host_sample  -- the first twenty, by name
FROM report_events
WHERE ts > $since AND ts <= $until AND ($host IS NULL OR host = $host)
  AND list_contains(CAST($subjects AS VARCHAR[]), subject)  -- only the pages written
GROUP BY subject;
