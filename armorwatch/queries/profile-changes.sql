-- name: profile-changes
-- grain: one row per AppArmor profile load, replace or remove in the window
-- param since: timestamp = 7d  -- only changes at or after this time
-- param host: text = null  -- only this host (null = every host)
SELECT
    ts,  -- when the kernel logged the change
    host,  -- host name
    operation,  -- profile_load | profile_replace | profile_remove
    profile_name,  -- the profile changed
    comm,  -- process that changed policy
    info,  -- kernel info= (errors)
    error  -- kernel error= (negative errno), null on success
FROM profile_status
WHERE ts >= $since
  AND ($host IS NULL OR host = $host)
ORDER BY ts DESC, host;
