-- name: alert_sensitive
-- grain: one row per (host, decision, origin, profile, class, name, capname, object) denied or allowed-in-complain-mode in [since, until)
-- param since: timestamptz  -- start of the window, inclusive
-- param until: timestamptz  -- end of the window, exclusive
-- jobs.alerts applies jobs.risky.match(class, name, capname) to each row.
-- Forged-looking records (suspect not null) never count: they raise alert_forged instead.
WITH hits AS (
    SELECT ts, host, 'denied' AS decision, origin, subject, object_class, name, capname, object, comm
    FROM denials
    WHERE ts >= $since AND ts < $until AND suspect IS NULL
    UNION ALL
    SELECT ts, host, 'allowed' AS decision, origin, subject, object_class, name, capname, object, comm
    FROM complain_events
    WHERE ts >= $since AND ts < $until AND suspect IS NULL
)
SELECT
    host,  -- host name
    decision,  -- denied | allowed (complain mode: the access happened)
    origin,  -- kernel | userspace
    subject AS profile,  -- AppArmor profile, else SELinux scontext
    object_class AS class,  -- AppArmor class, else SELinux tclass
    name,  -- decoded object name (path) as logged
    capname,  -- capability name, when a capability was checked
    object,  -- the object by class (see the store's views)
    count(*) AS hits,  -- accesses in the window
    epoch_ms(min(ts)) AS first_ms,  -- first access in the window, epoch ms
    epoch_ms(max(ts)) AS last_ms,  -- last access in the window, epoch ms
    arg_max(comm, ts) AS comm  -- command name of the latest access
FROM hits
GROUP BY ALL;
