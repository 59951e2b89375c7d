-- name: alert_new_signatures
-- grain: one row per denial signature (lsm, profile, class, object_pattern) whose first denial anywhere in the fleet is in [since, until)
-- param since: timestamptz  -- start of the window, inclusive
-- param until: timestamptz  -- end of the window, exclusive
SELECT
    lsm,  -- apparmor | selinux
    subject AS profile,  -- AppArmor profile, else SELinux scontext
    object_class AS class,  -- AppArmor class, else SELinux tclass
    object_pattern,  -- the object with all-digit path components as '*'
    epoch_ms(min(ts)) AS first_ms,  -- first denial of the signature, epoch ms
    epoch_ms(max(ts)) AS last_ms,  -- latest denial in the window, epoch ms
    arg_min(host, ts) AS first_host,  -- the host it was seen on first
    arg_min(object, ts) AS example,  -- the first concrete object
    count(DISTINCT host) AS hosts,  -- hosts it was seen on
    count(*) AS denials,  -- denials of the signature up to until
    bool_and(origin = 'userspace') AS userspace_only  -- true when only USER_AVC text reported it
FROM denials
-- suspect: a forged record must neither be new nor make a real signature look old
WHERE ts < $until AND suspect IS NULL
GROUP BY lsm, subject, object_class, object_pattern
HAVING min(ts) >= $since;
