-- name: report_profile_modes
-- grain: one row per (profile, host) of the hosts' own policy namespace read loaded in the window
-- param since: timestamptz  -- exclusive lower bound: older readings do not say today's mode
-- param host: varchar  -- only this host's readings (NULL: every host)
-- The real mode of a profile, as the collector read it from securityfs (table
-- profile_state), at the latest reading of the window that listed it. 'root' is the
-- kernel's name of the reader's own namespace (ingest.securityfs.ROOT_NAMESPACE): the
-- records' profile names the host's profiles without a namespace prefix. No upper bound:
-- a reading taken after the newest record still says the profile's mode now.
SELECT
    profile AS subject,                        -- profile name as the records name it
    host,                                      -- host that read it
    arg_max(mode, ts) AS mode,                 -- its mode at the latest reading listing it
    timezone('UTC', max(ts)) AS read_at        -- when that reading was taken
FROM profile_state
WHERE namespace = 'root' AND ts > $since AND ($host IS NULL OR host = $host)
GROUP BY profile, host
ORDER BY subject, host;
