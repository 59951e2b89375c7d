-- name: alert_silent_hosts
-- grain: one row per host that sent something in [lookback_since, silent_since) and nothing since
-- param lookback_since: timestamptz  -- hosts older than this are forgotten
-- param silent_since: timestamptz  -- a host whose last record is before this is silent
-- A forged-looking record (suspect not null) is no sign of life: anyone can write one.
WITH seen AS (
    SELECT host, min(ts) AS first_ts, max(ts) AS last_ts FROM records
    WHERE host IS NOT NULL AND suspect IS NULL GROUP BY host
    UNION ALL
    SELECT host, min(ts) AS first_ts, max(ts) AS last_ts FROM loss WHERE host IS NOT NULL GROUP BY host
)
SELECT
    host,  -- the silent host
    epoch_ms(max(last_ts)) AS last_ms,  -- its latest record or loss report, epoch ms
    epoch_ms(min(first_ts)) AS first_ms  -- its first one: how much history there is to judge by
FROM seen
GROUP BY host
HAVING max(last_ts) >= $lookback_since AND max(last_ts) < $silent_since;
