-- name: suggest_suspect
-- grain: one row per (profile, suspect reason) among forged-looking AppArmor DENIED/KILL and complain-mode ALLOWED records
-- param since: timestamp  -- in UTC or NULL; inclusive lower bound of ts
-- param until: timestamp  -- in UTC or NULL; inclusive upper bound of ts
-- param host: varchar  -- only records of this host (NULL: every host)
-- param labels: varchar[]  -- only records of these labels as logged (NULL: every label)
-- Only counted, so a profile's output can say why these records gave no rule; nothing
-- else of them is read (suggest_events.sql takes only suspect IS NULL).
WITH ev AS (
    SELECT ts, host, coalesce(profile, label) AS profile, suspect
    FROM denials
    WHERE lsm = 'apparmor' AND suspect IS NOT NULL
    UNION ALL
    SELECT ts, host, coalesce(profile, label) AS profile, suspect
    FROM complain_events
    WHERE suspect IS NOT NULL
)
SELECT
    profile,  -- the label as logged (forged-looking: attacker-chosen text)
    suspect,  -- why the records look forged (parsers.schema SUSPECT_*)
    count(*) AS events  -- records left out
FROM ev
WHERE profile IS NOT NULL
  AND ($labels IS NULL OR list_contains($labels, profile))
  AND ts >= coalesce(timezone('UTC', CAST($since AS TIMESTAMP)), '-infinity'::TIMESTAMPTZ)
  AND ts <= coalesce(timezone('UTC', CAST($until AS TIMESTAMP)), 'infinity'::TIMESTAMPTZ)
  AND ($host IS NULL OR host = $host)
GROUP BY ALL
ORDER BY events DESC
