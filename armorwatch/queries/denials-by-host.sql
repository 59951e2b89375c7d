-- name: denials-by-host
-- grain: one row per host with denials in the window
-- param since: timestamp = 24h  -- only denials at or after this time
-- param until: timestamp = null  -- only denials at or before this time (null = up to the newest)
-- param host: text = null  -- only this host (null = every host)
SELECT
    host,  -- host name
    count(*) AS denials,  -- denials in the window
    count(*) FILTER (WHERE origin = 'userspace') AS userspace,  -- of which USER_AVC / userspace-origin (forgeable)
    count(DISTINCT subject) AS profiles,  -- distinct profiles (or SELinux contexts) denied
    min(ts) AS first_ts,  -- first denial in the window
    max(ts) AS last_ts  -- latest denial
FROM denials
WHERE ts >= $since
  AND ($until IS NULL OR ts <= $until)
  AND ($host IS NULL OR host::VARCHAR = $host)
GROUP BY host
ORDER BY denials DESC, host;
