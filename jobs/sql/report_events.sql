-- name: report_events
-- grain: one row per denial (as store view denials) or complain-mode ALLOWED record (as complain_events)
-- Creates TEMP VIEW report_events, the one shape the report's jobs read (through the
-- TEMP TABLEs report_scope.sql and report_history.sql fill from it); TEMP so it also
-- works on a read-only store.
-- subject / object_class / object_pattern come from the store's macros, as the views',
-- so the report, alerts and rule suggestion agree on what an access is.
-- A "signature" is (subject, class, operation, object, mask): what a rule would name.
-- Only trustworthy records (suspect IS NULL): a `logger -t kernel` line must not list a
-- profile as "still learning"; forged-looking ones are counted per host in report_hosts.
-- It applies the views' own macros (parsers/sql/derived.sql: aw_is_denial, aw_is_complain,
-- aw_derived_columns, as the denials and complain_events views do) to a row of only the
-- columns they and this view read: DuckDB reads every column of a row passed to a macro,
-- and the views pass all of records (raw included), which made a scan of them most of the
-- report's query time and memory. A column the macros start reading is a binder error
-- here, never a silent difference.
CREATE OR REPLACE TEMP VIEW report_events AS
WITH rec AS (
    SELECT
        ts, host, source, lsm, apparmor, seresult, operation, profile, scontext,
        mediation_class, class, tclass, capname, signal, peer, name, name2, path, bus,
        interface, member, addr, peer_addr, family, sock_type, protocol, tcontext,
        denied_mask, requested_mask, perms
    FROM records
    WHERE suspect IS NULL
), ev AS (
    SELECT 'denied' AS decision, *, unnest(aw_derived_columns(rec))
    FROM rec WHERE aw_is_denial(rec)
    UNION ALL BY NAME
    SELECT 'allowed' AS decision, *, unnest(aw_derived_columns(rec, selinux := false))
    FROM rec WHERE aw_is_complain(rec)
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
