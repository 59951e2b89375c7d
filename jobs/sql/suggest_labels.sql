-- name: suggest_labels
-- grain: one row per AppArmor label (as logged) among DENIED/KILL and complain-mode ALLOWED records, forged-looking ones included
-- param since: timestamp  -- in UTC or NULL; inclusive lower bound of ts
-- param until: timestamp  -- in UTC or NULL; inclusive upper bound of ts
-- param host: varchar  -- only records of this host (NULL: every host)
-- A one-profile run (suggest --profile, the report's rules before enforcing) reads these
-- few labels first, picks the ones its profile needs (its own, its children's, those
-- stacked with it) and binds them as $labels of suggest_events / suggest_suspect, so the
-- grouping never touches the rest of the fleet.
WITH ev AS (
    SELECT ts, host, coalesce(profile, label) AS profile FROM denials WHERE lsm = 'apparmor'
    UNION ALL
    SELECT ts, host, coalesce(profile, label) AS profile FROM complain_events
)
SELECT DISTINCT
    profile  -- the label as logged
FROM ev
WHERE profile IS NOT NULL
  AND ts >= coalesce(timezone('UTC', CAST($since AS TIMESTAMP)), '-infinity'::TIMESTAMPTZ)
  AND ts <= coalesce(timezone('UTC', CAST($until AS TIMESTAMP)), 'infinity'::TIMESTAMPTZ)
  AND ($host IS NULL OR host = $host)
ORDER BY profile
