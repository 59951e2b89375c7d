-- name: pod-profile-mismatch
-- grain: one row per (pod, container, asked profile, denying profile) denied in the window by another profile than the one the pod asked for
-- param since: timestamp = 24h  -- only denials at or after this time
-- param until: timestamp = null  -- only denials at or before this time (null = up to the newest)
-- param host: text = null  -- only this node (null = every node)
-- param limit: integer = 50  -- rows to show
-- "Asked for X, denied by Y": the pod spec's securityContext.appArmorProfile (or the beta
-- annotation) named one profile and another one denied: the profile was not loaded on the
-- node when the container started, the runtime fell back, or the spec is not what runs.
SELECT
    pod_namespace,  -- namespace of the pod
    pod_name,  -- pod name
    container_name,  -- container name in the pod spec
    asked,  -- what the pod asked for: localhost/NAME, runtime/default, unconfined
    denied_by,  -- the AppArmor profile that denied
    count(*) AS denials,  -- denials in the window
    count(DISTINCT host) AS hosts,  -- nodes they happened on
    min(ts) AS first_seen,  -- first denial in the window
    max(ts) AS last_seen  -- latest denial
FROM pod_profile_mismatches
WHERE ts >= $since
  AND ($until IS NULL OR ts <= $until)
  AND ($host IS NULL OR host::VARCHAR = $host)
GROUP BY ALL
ORDER BY denials DESC, pod_namespace, pod_name, container_name, asked, denied_by
LIMIT $limit;
