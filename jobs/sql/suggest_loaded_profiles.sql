-- name: suggest_loaded_profiles
-- grain: one row per profile name seen loaded or replaced (STATUS records) anywhere in the fleet
-- Trusted records only: a forged profile_load must not turn a suggested ix into Px.
SELECT DISTINCT
    profile_name AS profile  -- a loaded profile name (an exec of this path may get Px)
FROM profile_status
WHERE operation IN ('profile_load', 'profile_replace')
  AND profile_name IS NOT NULL
  AND suspect IS NULL
