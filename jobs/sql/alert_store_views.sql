-- name: alert_store_views
-- grain: DDL: TEMP views over the store that give the alert jobs the names the continuous window has
-- jobs.alerts.evaluate runs this before the alert_*.sql jobs over a store (TEMP, so it also
-- works on a read-only store or its snapshot). The continuous window fills tables of the
-- same names and columns from alert_window_views.sql.
-- alert_profile_status: the store's profile_status, whose suspect column marks a forged
-- profile_remove.
CREATE OR REPLACE TEMP VIEW alert_profile_status AS
SELECT
    ts,  -- when the kernel logged the change
    host,  -- host name
    operation,  -- profile_load | profile_replace | profile_remove
    profile_name,  -- the profile loaded, replaced or removed
    comm,  -- command that changed policy
    suspect  -- why the record looks forged; null = nothing does
FROM profile_status;

-- alert_forged: every forged-looking record (suspect not null), with its bytes.
CREATE OR REPLACE TEMP VIEW alert_forged AS
SELECT
    ts,  -- event time the record claims
    host,  -- host name
    source,  -- log it came from
    record_type,  -- AVC, USER_AVC, ...
    origin,  -- kernel | userspace | unverified
    suspect,  -- why it looks forged (parsers/schema.py SUSPECT_*)
    raw  -- the record's bytes: the evidence
FROM records
WHERE suspect IS NOT NULL;
