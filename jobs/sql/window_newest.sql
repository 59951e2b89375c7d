-- name: window_newest
-- grain: one row
-- The default end of a time window (report, query, suggest): the newest record, or a loss record logged just
-- after it (journald's "Suppressed N" often is the last line). Loss records more than a
-- day after every MAC record are ignored here: that is a bad clock or a year-less syslog
-- timestamp, and must not move the window away from the data.
-- Forged-looking records (suspect) carry whatever time their writer chose: like loss
-- records, they may move the end only up to a day past the trusted records (and count
-- alone only in a store that holds nothing else).
-- Timestamps come out as UTC without a zone (timezone()), so no pytz is needed.
WITH t AS (
    SELECT max(ts) AS newest, min(ts) AS oldest FROM records WHERE suspect IS NULL
), a AS (
    SELECT max(ts) AS newest, min(ts) AS oldest FROM records
), r AS (
    SELECT
        CASE WHEN t.newest IS NULL THEN a.newest ELSE greatest(t.newest, coalesce(
            (SELECT max(ts) FROM records WHERE suspect IS NOT NULL
                AND ts <= t.newest + INTERVAL 1 DAY), t.newest)) END AS newest_record,
        coalesce(t.oldest, a.oldest) AS oldest_record
    FROM t, a
)
SELECT
    timezone('UTC', greatest(
        newest_record,
        coalesce((SELECT max(ts) FROM loss WHERE ts <= newest_record + INTERVAL 1 DAY), newest_record)
    )) AS newest,                                    -- default end of a time window
    timezone('UTC', oldest_record) AS oldest         -- oldest record in the store
FROM r;
