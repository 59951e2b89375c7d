-- name: silent-hosts
-- grain: one row per host heard from before but with no trustworthy record and no loss report since a time
-- param silent_since: timestamp = 24h  -- a host whose last record or loss report is before this is silent
-- param since: timestamp = 30d  -- only hosts heard from after this time (older ones are forgotten: decommissioned)
-- The report's "silent hosts" and the host-silent alert count the same signs of life:
-- trustworthy records and loss reports (a forged-looking record is no sign of life).
WITH seen AS (
    SELECT host::VARCHAR AS host, max(ts) AS last_ts, 'record' AS what FROM records
    WHERE host IS NOT NULL AND suspect IS NULL GROUP BY ALL
    UNION ALL
    SELECT host::VARCHAR AS host, max(ts) AS last_ts, 'loss report' AS what FROM loss
    WHERE host IS NOT NULL GROUP BY ALL
)
SELECT
    host,  -- the silent host
    max(last_ts) AS last_heard,  -- its latest record or loss report
    arg_max(what, last_ts) AS last_sign,  -- which of the two that was
    (SELECT max(ts) FROM records WHERE suspect IS NULL) - max(last_ts) AS silent_for  -- before the newest record in the store
FROM seen
GROUP BY host
HAVING max(last_ts) < $silent_since AND max(last_ts) > $since
ORDER BY last_heard;
