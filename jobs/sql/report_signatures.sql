-- name: report_signatures
-- grain: one row per (decision, subject, class, operation, object, mask) seen in the window
-- param since: timestamptz  -- exclusive lower bound of ts
-- One pass over report_scope (the history up to the window's end, of its host): the
-- window's figures filtered on ts > $since, first_seen over the whole history.
SELECT
    decision,                               -- 'denied' | 'allowed'
    subject,                                -- profile (or SELinux scontext)
    class,                                  -- mediation class
    operation,                              -- operation
    object,                                 -- accessed object
    mask,                                   -- permissions
    any_value(name) FILTER (WHERE ts > $since) AS name,  -- decoded path, for the risky-access list
    any_value(capname) FILTER (WHERE ts > $since) AS capname,  -- capability name, for the risky-access list
    count(*) FILTER (WHERE ts > $since) AS events,  -- events in the window
    count(DISTINCT host) FILTER (WHERE ts > $since) AS hosts,  -- hosts with this signature in the window
    (list(DISTINCT host ORDER BY host) FILTER (WHERE ts > $since))[1:5] AS host_sample,  -- up to five of them
    timezone('UTC', min(ts) FILTER (WHERE ts > $since)) AS first_in_window,  -- first occurrence in the window
    timezone('UTC', max(ts)) AS last_seen,  -- last occurrence
    timezone('UTC', min(ts)) AS first_seen,  -- first occurrence ever (up to the window's end)
    min(ts) > $since AS is_new              -- first seen inside the window
FROM report_scope
GROUP BY decision, subject, class, operation, object, mask
HAVING count(*) FILTER (WHERE ts > $since) > 0
-- the whole key last: ties in order on every run (DuckDB groups in parallel)
ORDER BY events DESC, subject, object, decision, class, operation, mask;
