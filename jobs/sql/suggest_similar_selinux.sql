-- name: suggest_similar_selinux
-- grain: one row: the stored SELinux records of the same access (source type, target type, class) as one record
-- param source_type: varchar  -- type of the subject (third field of scontext)
-- param target_type: varchar  -- type of the object (third field of tcontext)
-- param tclass: varchar  -- object class
-- param perms: varchar[]  -- permissions; a record denying any one of them counts
-- explain's similar events for an SELinux record (suggest_similar.sql matches AppArmor's
-- profile/operation/name columns, which SELinux records leave NULL).
SELECT
    count(*) AS events,
    count(DISTINCT host) AS hosts,
    count(*) FILTER (WHERE suspect IS NOT NULL) AS suspect,
    min(ts) AS first_seen,
    max(ts) AS last_seen,
    list(DISTINCT host ORDER BY host)[1:5] AS some_hosts
FROM records
WHERE lsm = 'selinux'
  AND split_part(scontext, ':', 3) = $source_type
  AND split_part(tcontext, ':', 3) = $target_type
  AND tclass = $tclass
  AND list_has_any(perms, $perms)
