-- name: loss
-- grain: one row per (host, source, kind) with counted loss in the window
-- param since: timestamp = 7d  -- only loss observed at or after this time
-- param until: timestamp = null  -- only loss observed at or before this time (null = up to the newest)
-- param host: text = null  -- only this host (null = every host)
SELECT
    host,  -- host that lost records (null when unknown)
    source,  -- log it was counted in
    kind,  -- kernel_lost, rotated_away_unread, journald_suppressed, parse_reject, ...
    sum(count) AS lost,  -- records or lines lost
    count(*) AS reports,  -- loss rows summed
    max(ts) AS last_ts  -- latest report
FROM loss
WHERE ts >= $since
  AND ($until IS NULL OR ts <= $until)
  AND ($host IS NULL OR host::VARCHAR = $host)
GROUP BY ALL
ORDER BY lost DESC, host, kind;
