-- name: suggest_loaded_profiles
-- grain: one row per profile name seen loaded or replaced (STATUS records) anywhere in the fleet
-- parameters: none
-- From records, not the profile_status view: the view has no suspect column, and a
-- forged profile_load must not turn a suggested ix into Px.
SELECT DISTINCT
    name AS profile  -- a loaded profile name (an exec of this path may get Px)
FROM records
WHERE apparmor = 'STATUS'
  AND operation IN ('profile_load', 'profile_replace')
  AND name IS NOT NULL
  AND suspect IS NULL
