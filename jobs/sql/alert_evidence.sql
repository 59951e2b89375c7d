-- name: alert_evidence
-- grain: the latest trustworthy record behind one alert (at most one row): who did it and the line as logged
-- param since: timestamptz  -- the alert's first event, inclusive
-- param until: timestamptz  -- the alert's last event, inclusive
-- param host: text = null  -- the alert's host (null = any)
-- param profile: text = null  -- its profile or SELinux scontext (null = any)
-- param object: text = null  -- its object or object pattern (null = any)
-- jobs.alerts.evidence runs it for each notified denial alert. SELECT *: the store's views
-- have every column (raw, pid, exe, masks); the continuous window's tables fewer (no raw),
-- and the caller reads what is there.
WITH ev AS (
    SELECT * FROM denials
    WHERE ts >= $since AND ts <= $until AND suspect IS NULL
    UNION ALL BY NAME
    SELECT * FROM complain_events
    WHERE ts >= $since AND ts <= $until AND suspect IS NULL
)
SELECT *  -- every column the record has
FROM ev
WHERE ($host IS NULL OR host::VARCHAR = $host)
  AND ($profile IS NULL OR subject::VARCHAR = $profile)
  AND ($object IS NULL OR object_pattern = $object OR object::VARCHAR = $object)
ORDER BY ts DESC
LIMIT 1;
