-- name: suggest_suspect
-- grain: one row per (profile, suspect reason) among forged-looking AppArmor DENIED/KILL and complain-mode ALLOWED records
-- param since: timestamp  -- in UTC or NULL; inclusive lower bound of ts
-- param labels: varchar[]  -- only records of these labels as logged (NULL: every label)
-- Only counted, so a profile's output can say why these records gave no rule; nothing
-- else of them is read (suggest_events.sql takes only suspect IS NULL).
WITH ev AS (
    SELECT ts, coalesce(profile, label) AS profile, suspect
    FROM denials
    WHERE lsm = 'apparmor' AND suspect IS NOT NULL
    UNION ALL
    SELECT ts, coalesce(profile, label) AS profile, suspect
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
GROUP BY ALL
ORDER BY events DESC
