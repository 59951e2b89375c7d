-- name: report_pod_mismatch
-- grain: one row per (pod, container, asked profile, denying profile) denied in the window by another profile than the one the pod asked for
-- param since: timestamptz  -- exclusive lower bound of ts
-- param until: timestamptz  -- inclusive upper bound of ts
-- param host: varchar  -- only this node's records (NULL: every node)
-- As the saved query pod-profile-mismatch (view pod_profile_mismatches), for the report.
SELECT
    pod_namespace,                             -- namespace of the pod
    pod_name,                                  -- pod name
    container_name,                            -- container name in the pod spec
    asked,                                     -- what the pod asked for
    denied_by,                                 -- the profile that denied
    count(*) AS denials                        -- denials in the window
FROM pod_profile_mismatches
WHERE ts > $since AND ts <= $until AND ($host IS NULL OR host = $host)
GROUP BY ALL
ORDER BY denials DESC, pod_namespace, pod_name, container_name, asked, denied_by;
