-- name: report_summary
-- grain: one row for the report window
-- param since: timestamptz  -- exclusive lower bound of ts
-- param until: timestamptz  -- inclusive upper bound of ts
-- param host: varchar  -- only this host's records (NULL: every host)
SELECT
    (SELECT count(*) FROM records WHERE ts > $since AND ts <= $until AND ($host IS NULL OR host = $host) AND suspect IS NULL)
        AS records,                                               -- every trustworthy MAC record
    count(*) FILTER (WHERE decision = 'denied') AS denials,       -- denials in the window
    count(*) FILTER (WHERE decision = 'allowed') AS allowed,      -- complain-mode ALLOWED records
    count(DISTINCT subject) AS subjects,                          -- profiles / domains with events
    (SELECT count(DISTINCT host) FROM records WHERE ts > $since AND ts <= $until AND ($host IS NULL OR host = $host) AND suspect IS NULL)
        AS hosts,                                                 -- hosts that reported
    (SELECT count(*) FROM records WHERE ts > $since AND ts <= $until AND ($host IS NULL OR host = $host) AND suspect IS NOT NULL)
        AS forged                                                 -- forged-looking records (no section uses them)
FROM report_events
WHERE ts > $since AND ts <= $until AND ($host IS NULL OR host = $host);
