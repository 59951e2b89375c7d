-- name: window_newest
-- grain: one row
-- parameters: none
-- The default end of a time window (report, query, suggest): the newest record, or a loss record logged just
-- after it (journald's "Suppressed N" often is the last line). Loss records more than a
-- day after every MAC record are ignored here: that is a bad clock or a year-less syslog
-- timestamp, and must not move the window away from the data.
-- Timestamps come out as UTC without a zone (timezone()), so no pytz is needed.
WITH r AS (SELECT max(ts) AS newest_record, min(ts) AS oldest_record FROM records)
SELECT
    timezone('UTC', greatest(
        newest_record,
        coalesce((SELECT max(ts) FROM loss WHERE ts <= newest_record + INTERVAL 1 DAY), newest_record)
    )) AS newest,                                    -- default end of a time window
    timezone('UTC', oldest_record) AS oldest         -- oldest record in the store
FROM r;
