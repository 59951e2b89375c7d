-- name: report_signatures
-- grain: one row per (decision, subject, class, operation, object, mask) seen in the window
-- param since: timestamptz  -- exclusive lower bound of ts
-- The window's figures from report_scope (filtered on ts > $since); first_seen from the
-- older history (report_history) when the signature is in it, else from report_scope.
WITH recent AS (
    SELECT
        decision, subject, class, operation, object, mask,
        any_value(name) FILTER (WHERE ts > $since) AS name,
        any_value(capname) FILTER (WHERE ts > $since) AS capname,
        count(*) FILTER (WHERE ts > $since) AS events,
        count(DISTINCT host) FILTER (WHERE ts > $since) AS hosts,
        (list(DISTINCT host ORDER BY host) FILTER (WHERE ts > $since))[1:5] AS host_sample,
        min(ts) FILTER (WHERE ts > $since) AS first_in_window,
        max(ts) AS last_seen,
        min(ts) AS first_recent
    FROM report_scope
    GROUP BY decision, subject, class, operation, object, mask
    HAVING count(*) FILTER (WHERE ts > $since) > 0
), old AS (
    SELECT decision, subject, class, operation, object, mask, min(first_seen) AS first_old
    FROM report_history
    GROUP BY decision, subject, class, operation, object, mask
)
SELECT
    decision,                               -- 'denied' | 'allowed'
    subject,                                -- profile (or SELinux scontext)
    class,                                  -- mediation class
    operation,                              -- operation
    object,                                 -- accessed object
    mask,                                   -- permissions
    name,                                   -- decoded path, for the risky-access list
    capname,                                -- capability name, for the risky-access list
    events,                                 -- events in the window
    hosts,                                  -- hosts with this signature in the window
    host_sample,                            -- up to five of them
    timezone('UTC', first_in_window) AS first_in_window,  -- first occurrence in the window
    timezone('UTC', last_seen) AS last_seen,  -- last occurrence
    timezone('UTC', coalesce(old.first_old, recent.first_recent)) AS first_seen,  -- first occurrence ever (up to the window's end)
    coalesce(old.first_old, recent.first_recent) > $since AS is_new  -- first seen inside the window
FROM recent
LEFT JOIN old USING (decision, subject, class, operation, object, mask)
-- the whole key last: ties in order on every run (DuckDB groups in parallel)
ORDER BY events DESC, subject, object, decision, class, operation, mask;
