-- name: report_summary
-- grain: one row for the report window
-- param since: timestamptz  -- exclusive lower bound of ts
-- param until: timestamptz  -- inclusive upper bound of ts
-- param host: varchar  -- only this host's records (NULL: every host)
WITH rec AS (  -- one scan of records for the three counts over every MAC record
    SELECT
        count(*) FILTER (WHERE suspect IS NULL) AS records,
        count(DISTINCT host) FILTER (WHERE suspect IS NULL) AS hosts,
        count(*) FILTER (WHERE suspect IS NOT NULL) AS forged
    FROM records
    WHERE ts > $since AND ts <= $until AND ($host IS NULL OR host = $host)
), ev AS (
    SELECT
        count(*) FILTER (WHERE decision = 'denied') AS denials,
        count(*) FILTER (WHERE decision = 'allowed') AS allowed,
        count(DISTINCT subject) AS subjects
    FROM report_scope  -- the window and the one before it, of its host (report_scope.sql)
    WHERE ts > $since
)
SELECT
    rec.records,                            -- every trustworthy MAC record
    ev.denials,                             -- denials in the window
    ev.allowed,                             -- complain-mode ALLOWED records
    ev.subjects,                            -- profiles / domains with events
    rec.hosts,                              -- hosts that reported
    rec.forged                              -- forged-looking records (no section uses them)
FROM rec, ev;
