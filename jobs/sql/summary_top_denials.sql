-- name: summary_top_denials
-- grain: one row per (lsm, subject, operation, object, mask) among denials with ts >= $since, top $top
-- param since: timestamptz  -- inclusive lower bound of ts
-- param top: integer  -- rows kept
SELECT
    lsm,                                                   -- apparmor | selinux
    coalesce(profile, scontext) AS subject,                -- AppArmor profile, or SELinux source context
    coalesce(operation, tclass) AS operation,              -- AppArmor operation, or SELinux target class
    coalesce(name, capname, peer, addr, "path", family, tcontext) AS object,  -- what was denied
    coalesce(denied_mask, array_to_string(perms, ' ')) AS mask,    -- denied permissions
    count(*) AS denials,                                   -- denial records
    count(DISTINCT host) AS hosts,                         -- hosts that logged them
    strftime(max(ts), '%Y-%m-%d %H:%M:%S') AS last_seen   -- newest denial, UTC
FROM denials
WHERE ts >= $since AND suspect IS NULL  -- forged-looking records: summary_forged
GROUP BY ALL
ORDER BY denials DESC, subject, object
LIMIT $top
