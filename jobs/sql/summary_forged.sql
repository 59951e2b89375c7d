-- name: summary_forged
-- grain: one row per (host, suspect reason) among forged-looking records with ts >= $since
-- param since: timestamptz  -- inclusive lower bound of ts
-- Records that claim the kernel but look written from userspace (parsers/schema.py
-- SUSPECT_*): left out of every other summary, counted here.
SELECT
    host,                                       -- host they were stored for (null: unknown)
    suspect AS reason,                          -- why they look forged
    count(*) AS records,                        -- forged-looking records
    strftime(max(ts), '%Y-%m-%d %H:%M:%S') AS last_seen  -- newest one, UTC
FROM records
WHERE ts >= $since AND suspect IS NOT NULL
GROUP BY ALL
ORDER BY records DESC, host, reason
