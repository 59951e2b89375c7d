-- name: suggest_selinux
-- grain: one row per (source type, target type, tclass, permissive) of SELinux denials
-- param since: timestamp  -- in UTC or NULL; inclusive lower bound of ts
-- param until: timestamp  -- in UTC or NULL; inclusive upper bound of ts
-- param host: varchar  -- only records of this host (NULL: every host)
SELECT
    split_part(scontext, ':', 3) AS source_type,  -- type of the denied subject (scontext)
    split_part(tcontext, ':', 3) AS target_type,  -- type of the object (tcontext)
    tclass,  -- object class
    coalesce(permissive, false) AS permissive,  -- true: the access happened anyway
    list_sort(list_distinct(flatten(list(perms)))) AS perms,  -- union of denied permissions
    count(*) AS events,  -- denials in this group
    list(DISTINCT host ORDER BY host) AS hosts,  -- hosts that logged them
    list(DISTINCT comm ORDER BY comm) FILTER (WHERE comm IS NOT NULL) AS comms,  -- commands
    timezone('UTC', min(ts)) AS first_seen,  -- earliest (UTC)
    timezone('UTC', max(ts)) AS last_seen,  -- latest (UTC)
    arg_max(raw, ts) AS example  -- the newest original line
FROM denials
WHERE lsm = 'selinux'
  AND suspect IS NULL  -- nothing marks it forged-looking (parsers.schema SUSPECT_*)
  AND scontext IS NOT NULL AND tcontext IS NOT NULL AND tclass IS NOT NULL
  AND ts >= coalesce(timezone('UTC', CAST($since AS TIMESTAMP)), '-infinity'::TIMESTAMPTZ)
  AND ts <= coalesce(timezone('UTC', CAST($until AS TIMESTAMP)), 'infinity'::TIMESTAMPTZ)
  AND ($host IS NULL OR host = $host)
GROUP BY ALL
ORDER BY events DESC
