-- name: report_hosts
-- grain: one row per host that ever reported (up to $until)
-- parameters: since (TIMESTAMPTZ, exclusive lower bound of ts), until (TIMESTAMPTZ, inclusive upper bound of ts)
SELECT
    host::VARCHAR AS host,                                             -- host name
    count(*) FILTER (WHERE ts > $since) AS records,                    -- MAC records in the window
    count(*) FILTER (WHERE ts > $since AND (apparmor = 'DENIED' OR seresult = 'denied'))
        AS denials,                                                    -- denials in the window
    count(*) FILTER (WHERE ts > $since AND apparmor = 'ALLOWED') AS allowed,  -- complain-mode records
    list(DISTINCT source::VARCHAR ORDER BY source::VARCHAR) FILTER (WHERE ts > $since)
        AS sources,                                                    -- sources heard from in the window
    timezone('UTC', min(ts)) AS first_seen,                                        -- first record ever
    timezone('UTC', max(ts)) AS last_seen                                         -- last record (blind when <= since)
FROM records
WHERE ts <= $until
GROUP BY ALL
ORDER BY records DESC, host;
