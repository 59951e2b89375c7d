-- name: report_newest
-- grain: one row
-- parameters: none
-- Timestamps come out as UTC without a zone (timezone()), so no pytz is needed.
SELECT
    timezone('UTC', max(ts)) AS newest,   -- newest record in the store: the default end of the report window
    timezone('UTC', min(ts)) AS oldest -- oldest record in the store
FROM records;
