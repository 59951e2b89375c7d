-- name: new-denials
-- grain: one row per (lsm, profile, class, object pattern) first seen fleet-wide in the window
-- param since: timestamp = 24h  -- patterns whose first denial anywhere is at or after this time
-- param until: timestamp = null  -- ... and at or before this time (null = up to the newest)
-- param limit: integer = 100  -- rows to show
SELECT
    first_seen,  -- first denial of the pattern on any host
    first_host,  -- host it was first seen on
    lsm,  -- apparmor | selinux
    profile,  -- AppArmor profile, else SELinux scontext
    class,  -- AppArmor class, else SELinux tclass
    object_pattern,  -- object with all-digit path components as '*'
    example_object,  -- the first concrete object
    hosts,  -- hosts it has been seen on
    denials  -- denials of the pattern, all time
FROM new_denials
WHERE first_seen >= $since
  AND ($until IS NULL OR first_seen <= $until)
ORDER BY first_seen DESC, profile, object_pattern
LIMIT $limit;
