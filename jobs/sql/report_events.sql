-- name: report_events
-- grain: one row per denial (store view denials) or complain-mode ALLOWED record (complain_events)
-- Creates TEMP VIEW report_events, the one shape every other report_*.sql reads; TEMP so
-- it also works on a read-only store. subject / object_class / object_pattern come from
-- the store's views, so the report, alerts and rule suggestion agree on what an access is.
-- A "signature" is (subject, class, operation, object, mask): what a rule would name.
-- Only trustworthy records (suspect IS NULL): a `logger -t kernel` line must not list a
-- profile as "still learning"; forged-looking ones are counted per host in report_hosts.
CREATE OR REPLACE TEMP VIEW report_events AS
WITH ev AS (
    SELECT 'denied' AS decision, * FROM denials WHERE suspect IS NULL
    UNION ALL BY NAME
    SELECT 'allowed' AS decision, * FROM complain_events WHERE suspect IS NULL
)
SELECT
    decision,                                            -- 'denied' | 'allowed' (complain mode)
    ts,                                                  -- event time, UTC
    host::VARCHAR AS host,                               -- reporting host
    source::VARCHAR AS source,                           -- audit.log | kern.log | journald ...
    lsm::VARCHAR AS lsm,                                 -- apparmor | selinux
    coalesce(subject::VARCHAR, '(none)') AS subject,     -- AppArmor profile, else SELinux scontext
    coalesce(object_class::VARCHAR, '') AS class,        -- mediation class (file, net, cap, ...)
    coalesce(operation::VARCHAR, '') AS operation,       -- open, exec, capable, ...
    coalesce(object_pattern, '') AS object,              -- the object, all-digit path parts as '*'
    coalesce(denied_mask::VARCHAR, requested_mask::VARCHAR, array_to_string(perms, ' '), '')
        AS mask,                                         -- permissions denied / asked
    name,                                                -- decoded object path (risky-path match)
    capname::VARCHAR AS capname                          -- capability name (risky-cap match)
FROM ev;
