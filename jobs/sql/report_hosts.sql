-- name: report_hosts
-- grain: one row per host that ever reported (up to $until)
-- param since: timestamptz  -- exclusive lower bound of ts
-- param until: timestamptz  -- inclusive upper bound of ts
-- param host: varchar  -- only this host's records (NULL: every host)
-- A forged-looking record (suspect not null) is no sign of life: a host that sent only
-- those is blind; they are counted in forged (with their reasons) and nowhere else.
-- last_heard also counts loss reports, as the host-silent alert does (alert_silent_hosts.sql).
WITH heard AS (
    SELECT host::VARCHAR AS host, max(ts) AS last_loss FROM loss WHERE ts <= $until AND ($host IS NULL OR host = $host) GROUP BY ALL
)
SELECT
    records.host::VARCHAR AS host,                                     -- host name (null: unknown)
    count(*) FILTER (WHERE ts > $since AND suspect IS NULL) AS records,  -- MAC records in the window
    count(*) FILTER (WHERE ts > $since AND suspect IS NULL
                     AND (apparmor = 'DENIED' OR seresult = 'denied'))
        AS denials,                                                    -- denials in the window
    count(*) FILTER (WHERE ts > $since AND suspect IS NULL AND apparmor = 'ALLOWED')
        AS allowed,                                                    -- complain-mode records
    list(DISTINCT source::VARCHAR ORDER BY source::VARCHAR) FILTER (WHERE ts > $since AND suspect IS NULL)
        AS sources,                                                    -- sources heard from in the window
    timezone('UTC', min(ts) FILTER (WHERE suspect IS NULL)) AS first_seen,  -- first record ever (null: none)
    timezone('UTC', max(ts) FILTER (WHERE suspect IS NULL)) AS last_seen,   -- last trustworthy record
    count(*) FILTER (WHERE ts > $since AND suspect IS NOT NULL) AS forged,  -- forged-looking records in the window
    list(DISTINCT suspect::VARCHAR ORDER BY suspect::VARCHAR) FILTER (WHERE ts > $since AND suspect IS NOT NULL)
        AS forged_reasons,                                             -- why they look forged
    timezone('UTC', greatest(max(ts) FILTER (WHERE suspect IS NULL), any_value(heard.last_loss)))
        AS last_heard                                                  -- last record or loss report (null: none)
FROM records
LEFT JOIN heard ON heard.host IS NOT DISTINCT FROM records.host::VARCHAR
WHERE ts <= $until AND ($host IS NULL OR records.host = $host)
GROUP BY ALL
-- a host known only from forged-looking records outside the window is not listed
HAVING count(*) FILTER (WHERE suspect IS NULL) > 0 OR count(*) FILTER (WHERE ts > $since) > 0
ORDER BY records DESC, host;
