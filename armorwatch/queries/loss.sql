-- name: loss
-- grain: one row per (host, source, kind) with counted loss in the window
-- param since: timestamp = 7d  -- only loss observed at or after this time
SELECT
    host,  -- host that lost records (null when unknown)
    source,  -- log it was counted in
    kind,  -- kernel_lost, rotated_away_unread, journald_suppressed, parse_reject, ...
    sum(count) AS lost,  -- records or lines lost
    count(*) AS reports,  -- loss rows summed
    max(ts) AS last_ts  -- latest report
FROM loss
WHERE ts >= $since
GROUP BY ALL
ORDER BY lost DESC, host, kind;
