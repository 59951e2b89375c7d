-- name: denials-per-day
-- grain: one row per (UTC day, profile) with denials in the window
-- param since: timestamp = 7d  -- only denials after this time
-- param until: timestamp = null  -- only denials at or before this time (null = up to the newest)
-- param host: text = null  -- only this host (null = every host)
SELECT
    date_trunc('day', timezone('UTC', ts))::DATE AS day,  -- UTC day
    coalesce(subject::VARCHAR, '(none)') AS profile,  -- AppArmor profile, else SELinux scontext
    count(*) AS denials,  -- denials that day
    count(DISTINCT host) AS hosts,  -- hosts they came from
    count(DISTINCT object_pattern) AS objects  -- distinct object patterns denied
FROM denials
WHERE suspect IS NULL
  AND ts > $since
  AND ($until IS NULL OR ts <= $until)
  AND ($host IS NULL OR host::VARCHAR = $host)
GROUP BY ALL
ORDER BY day, denials DESC, profile;
