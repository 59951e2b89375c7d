-- name: raw-lines
-- grain: one row per stored denial or complain-mode record behind a signature or an alert, newest first
-- param since: timestamp = 24h  -- only records after this time
-- param until: timestamp = null  -- only records at or before this time (null = up to the newest)
-- param profile: text = null  -- only this profile or SELinux scontext (null = every one)
-- param object: text = null  -- only this object or object pattern (as the report and alerts show it; null = any)
-- param host: text = null  -- only this host (null = every host)
-- param forged: text = no  -- no: trustworthy records only; yes: forged-looking ones only; all: both
-- param limit: integer = 20  -- rows to show
-- What an analyst or on-call reads to act on an alert: who (pid, comm, exe) did what, and
-- the raw line as stored (bytes; --format json gives them exactly, base64).
WITH ev AS (
    SELECT 'denied' AS decision, * FROM denials
    UNION ALL BY NAME
    SELECT 'allowed' AS decision, * FROM complain_events
)
SELECT
    ts,  -- event time
    host,  -- reporting host
    decision,  -- denied | allowed (complain mode)
    coalesce(subject::VARCHAR, '(none)') AS profile,  -- AppArmor profile, else SELinux scontext
    object_pattern,  -- object with all-digit path components as '*'
    pid,  -- process id
    comm,  -- its command name
    exe,  -- its executable (SELinux records and USER_AVC)
    suspect,  -- why the record looks forged (null: trustworthy)
    raw  -- the line as stored
FROM ev
WHERE ts > $since
  AND ($until IS NULL OR ts <= $until)
  AND ($profile IS NULL OR subject::VARCHAR = $profile)
  AND ($object IS NULL OR object_pattern = $object OR object::VARCHAR = $object)
  AND ($host IS NULL OR host::VARCHAR = $host)
  AND CASE $forged WHEN 'yes' THEN suspect IS NOT NULL WHEN 'all' THEN true ELSE suspect IS NULL END
ORDER BY ts DESC
LIMIT $limit;
