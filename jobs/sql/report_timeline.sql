-- name: report_timeline
-- grain: one row per (subject, decision, time bucket) with events in the window
-- param since: timestamptz  -- exclusive lower bound of ts
-- param bucket_s: integer  -- bucket width in seconds; buckets are aligned on the epoch
SELECT
    subject,                                                         -- profile / domain
    decision,                                                        -- 'denied' | 'allowed'
    timezone('UTC', to_timestamp(floor(epoch(ts) / $bucket_s) * $bucket_s)) AS bucket,  -- bucket start, UTC
    count(*) AS events                                               -- events in the bucket
FROM report_scope  -- the window and the one before it, of its host (report_scope.sql)
WHERE ts > $since
GROUP BY ALL
ORDER BY bucket, subject;
