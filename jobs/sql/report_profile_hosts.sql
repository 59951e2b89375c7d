-- name: report_profile_hosts
-- grain: one row per subject (profile / domain) with events in the window
-- parameters: since (TIMESTAMPTZ, exclusive lower bound of ts), until (TIMESTAMPTZ, inclusive upper bound of ts)
SELECT
    subject,                                            -- profile / domain
    count(DISTINCT host) AS hosts,                      -- hosts with its events in the window
    list(DISTINCT host ORDER BY host)[1:20] AS host_sample  -- the first twenty, by name
FROM report_events
WHERE ts > $since AND ts <= $until
GROUP BY subject;
