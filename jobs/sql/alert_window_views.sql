-- name: alert_window_views
-- grain: DDL: views over one incoming batch (_aw_in) that fill the alert window's tables
-- parameters: none
-- The continuous alert path keeps recent rows in an in-memory DuckDB and runs the same
-- alert_*.sql jobs over it. Its tables denials, complain_events, alert_profile_status and
-- alert_forged are filled through these views as each batch arrives, so the derived
-- columns (object, object_pattern: regular expressions) are computed once per row, not
-- per evaluation. They mirror the store's views (sinks/sql/views.sql; alert_profile_status
-- and alert_forged: alert_store_views.sql) column for column where the jobs read them;
-- tests/jobs/test_alerts.py checks that both paths raise the same alerts. raw is kept only
-- in alert_forged (the evidence of a forgery), not in the big tables.
CREATE OR REPLACE VIEW _in_denials AS
WITH d AS (
    SELECT
        * EXCLUDE (raw),  -- every window column of the batch
        coalesce(profile, scontext) AS subject,  -- AppArmor profile, else SELinux scontext
        coalesce(mediation_class, class, tclass) AS object_class,  -- class=, else tclass, else derived (records.mediation_class)
        CASE  -- the denied object, by class
            WHEN capname IS NOT NULL THEN capname
            WHEN coalesce(mediation_class, class) = 'signal' THEN coalesce(signal, '?') || ' -> ' || coalesce(peer, '?')
            WHEN coalesce(mediation_class, class) = 'ptrace' THEN coalesce(peer, name)
            WHEN coalesce(mediation_class, class) = 'dbus' OR bus IS NOT NULL
                THEN concat_ws(' ', name, path, interface, member)
            WHEN coalesce(mediation_class, class) IN ('unix') THEN coalesce(addr, peer_addr, name)
            WHEN coalesce(mediation_class, class) IN ('net', 'network') AND name IS NULL
                THEN concat_ws(' ', family, sock_type, protocol)
            ELSE coalesce(name, path, name2, addr, peer, tcontext)
        END AS object
    FROM _aw_in
    WHERE apparmor IN ('DENIED', 'KILL') OR seresult = 'denied'
)
SELECT
    *,
    regexp_replace(regexp_replace(object, '/[0-9]+(/|$)', '/*\1', 'g'),
                   '/[0-9]+(/|$)', '/*\1', 'g') AS object_pattern  -- digits as '*'
FROM d;

CREATE OR REPLACE VIEW _in_complain_events AS
SELECT
    * EXCLUDE (raw),  -- every window column of the batch
    profile AS subject,  -- the AppArmor profile in complain mode
    coalesce(mediation_class, class) AS object_class,  -- AppArmor class=, else derived from the operation
    CASE  -- the object, by class
        WHEN capname IS NOT NULL THEN capname
        WHEN coalesce(mediation_class, class) = 'signal' THEN coalesce(signal, '?') || ' -> ' || coalesce(peer, '?')
        WHEN coalesce(mediation_class, class) = 'ptrace' THEN coalesce(peer, name)
        WHEN coalesce(mediation_class, class) = 'dbus' OR bus IS NOT NULL
            THEN concat_ws(' ', name, path, interface, member)
        WHEN coalesce(mediation_class, class) IN ('unix') THEN coalesce(addr, peer_addr, name)
        WHEN coalesce(mediation_class, class) IN ('net', 'network') AND name IS NULL
            THEN concat_ws(' ', family, sock_type, protocol)
        ELSE coalesce(name, path, name2, addr, peer)
    END AS object
FROM _aw_in
WHERE apparmor = 'ALLOWED';

CREATE OR REPLACE VIEW _in_alert_profile_status AS
SELECT
    ts,  -- when the kernel logged the change
    host,  -- host name
    operation,  -- profile_load | profile_replace | profile_remove
    name AS profile_name,  -- the profile loaded, replaced or removed
    comm,  -- command that changed policy
    suspect  -- why the record looks forged; null = nothing does
FROM _aw_in
WHERE apparmor = 'STATUS'
  AND operation IN ('profile_load', 'profile_replace', 'profile_remove');

CREATE OR REPLACE VIEW _in_alert_forged AS
SELECT
    ts,  -- event time the record claims
    host,  -- host name
    source,  -- log it came from
    record_type,  -- AVC, USER_AVC, ...
    origin,  -- kernel | userspace | unverified
    suspect,  -- why it looks forged (parsers/schema.py SUSPECT_*)
    raw  -- the record's bytes: the evidence
FROM _aw_in
WHERE suspect IS NOT NULL;
