-- name: summary_by_profile
-- grain: one row per (lsm, subject, class, decision) among records with ts >= $since
-- param since: timestamptz  -- inclusive lower bound of ts
SELECT
    lsm,                                        -- apparmor | selinux
    coalesce(profile, scontext) AS subject,     -- AppArmor profile, or SELinux source context
    coalesce("class", tclass) AS object_class,  -- AppArmor class, or SELinux target class
    coalesce(apparmor, seresult) AS decision,   -- DENIED/ALLOWED/STATUS/..., or denied/granted
    count(*) AS records,                        -- MAC records in the group
    count(DISTINCT host) AS hosts               -- hosts that logged them
FROM records
WHERE ts >= $since AND suspect IS NULL  -- forged-looking records: summary_forged
GROUP BY ALL
ORDER BY records DESC, subject, object_class
