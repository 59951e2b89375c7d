-- name: alert_window_views
-- grain: DDL: views over one incoming batch (_aw_in) that fill the alert window's tables
-- include: derived
-- The continuous alert path keeps recent rows in an in-memory DuckDB and runs the same
-- alert_*.sql jobs over it. Its tables denials, complain_events, alert_profile_status and
-- alert_forged are filled through these views as each batch arrives, so the derived
-- columns (object, object_pattern: regular expressions) are computed once per row, not
-- per evaluation. They mirror the store's views (sinks/sql/views.sql; alert_profile_status
-- and alert_forged: alert_store_views.sql) column for column where the jobs read them,
-- and derive subject, object_class, object and object_pattern with the same macros
-- (parsers/sql/derived.sql, included above); tests/jobs/test_alert_window_views.py checks
-- that both paths derive equal columns. raw is kept only in alert_forged (the evidence of
-- a forgery), not in the big tables.
CREATE OR REPLACE VIEW _in_denials AS
SELECT
    * EXCLUDE (raw),  -- every window column of the batch
    unnest(aw_derived_columns(_aw_in))  -- subject, object_class, object, object_pattern
FROM _aw_in
WHERE aw_is_denial(_aw_in);

CREATE OR REPLACE VIEW _in_complain_events AS
SELECT
    * EXCLUDE (raw),  -- every window column of the batch
    unnest(aw_derived_columns(_aw_in, selinux := false))  -- as the store's complain_events
FROM _aw_in
WHERE aw_is_complain(_aw_in);

CREATE OR REPLACE VIEW _in_alert_profile_status AS
SELECT
    ts,  -- when the kernel logged the change
    host,  -- host name
    operation,  -- profile_load | profile_replace | profile_remove
    name AS profile_name,  -- the profile loaded, replaced or removed
    comm,  -- command that changed policy
    suspect  -- why the record looks forged; null = nothing does
FROM _aw_in
WHERE aw_is_policy_change(_aw_in);

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
