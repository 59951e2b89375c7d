-- name: report_signatures
-- grain: one row per (decision, subject, class, operation, object, mask) seen in the window
-- param since: timestamptz  -- exclusive lower bound of ts
-- param until: timestamptz  -- inclusive upper bound of ts
-- param host: varchar  -- only this host's records (NULL: every host)
WITH hist AS (
    SELECT decision, subject, class, operation, object, mask, min(ts) AS first_seen
    FROM report_events
    WHERE ts <= $until AND ($host IS NULL OR host = $host)
    GROUP BY ALL
)
SELECT
    w.decision,                             -- 'denied' | 'allowed'
    w.subject,                              -- profile (or SELinux scontext)
    w.class,                                -- mediation class
    w.operation,                            -- operation
    w.object,                               -- accessed object
    w.mask,                                 -- permissions
    any_value(w.name) AS name,              -- decoded path, for the risky-access list
    any_value(w.capname) AS capname,        -- capability name, for the risky-access list
    count(*) AS events,                     -- events in the window
    count(DISTINCT w.host) AS hosts,        -- hosts with this signature in the window
    list(DISTINCT w.host ORDER BY w.host)[1:5] AS host_sample,  -- up to five of them
    timezone('UTC', min(w.ts)) AS first_in_window,     -- first occurrence in the window
    timezone('UTC', max(w.ts)) AS last_seen,    -- last occurrence
    timezone('UTC', any_value(h.first_seen)) AS first_seen,  -- first occurrence ever (up to $until)
    any_value(h.first_seen) > $since AS is_new  -- first seen inside the window
FROM report_events AS w
JOIN hist AS h USING (decision, subject, class, operation, object, mask)
WHERE w.ts > $since AND w.ts <= $until AND ($host IS NULL OR w.host = $host)
GROUP BY w.decision, w.subject, w.class, w.operation, w.object, w.mask
-- the whole key last: ties in order on every run (DuckDB groups in parallel)
ORDER BY events DESC, w.subject, w.object, w.decision, w.class, w.operation, w.mask;
