-- name: suggest_similar
-- grain: one row: the stored records of the same access (label, operation, class, object, mask) as one record
-- param profile: varchar
-- param operation: varchar
-- param class: varchar
-- param name: varchar  -- or NULL
-- param capname: varchar  -- or NULL
-- param denied_mask: varchar  -- or NULL
-- NULL equals NULL here: a capability record has no name, a file record no capname.
SELECT
    count(*) AS events,
    count(DISTINCT host) AS hosts,
    count(*) FILTER (WHERE suspect IS NOT NULL) AS suspect,
    min(ts) AS first_seen,
    max(ts) AS last_seen,
    list(DISTINCT host ORDER BY host)[1:5] AS some_hosts
FROM records
WHERE profile IS NOT DISTINCT FROM $profile
  AND operation IS NOT DISTINCT FROM $operation
  AND class IS NOT DISTINCT FROM $class
  AND name IS NOT DISTINCT FROM $name
  AND capname IS NOT DISTINCT FROM $capname
  AND denied_mask IS NOT DISTINCT FROM $denied_mask
