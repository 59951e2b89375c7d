-- name: alert_profile_changes
-- grain: one row per (host, profile, change) where a profile was unloaded, or started logging complain-mode ALLOWED records after having denied, in [since, until)
-- param since: timestamptz  -- start of the window, inclusive
-- param until: timestamptz  -- end of the window, exclusive
-- Only records with suspect IS NULL count: `logger -t kernel "apparmor=STATUS
-- operation=profile_remove ..."` must not raise "profile unloaded". alert_profile_status is
-- the store's profile_status with its records' suspect column (alert_store_views.sql; in
-- the continuous window, a table filled by alert_window_views.sql).
WITH removed AS (
    SELECT host, profile_name AS profile, 'unloaded' AS change, count(*) AS events,
           min(ts) AS first_ts, max(ts) AS last_ts, arg_max(comm, ts) AS comm
    FROM alert_profile_status
    WHERE operation = 'profile_remove' AND ts >= $since AND ts < $until AND suspect IS NULL
    GROUP BY ALL
),
allowed AS (
    SELECT host, profile, count(*) AS events, min(ts) AS first_ts, max(ts) AS last_ts,
           arg_max(comm, ts) AS comm
    FROM complain_events
    WHERE ts >= $since AND ts < $until AND profile IS NOT NULL AND suspect IS NULL
    GROUP BY ALL
),
complain AS (
    SELECT a.host, a.profile, 'complain' AS change, a.events, a.first_ts, a.last_ts, a.comm
    FROM allowed a
    WHERE EXISTS (
        SELECT 1 FROM denials d
        WHERE d.host = a.host AND d.profile = a.profile AND d.ts < a.first_ts
          AND d.suspect IS NULL
    )
)
SELECT
    host,  -- host name
    profile,  -- the profile unloaded or now in complain mode
    change,  -- unloaded | complain
    events,  -- profile_remove records, or ALLOWED records in the window
    epoch_ms(first_ts) AS first_ms,  -- first such record in the window, epoch ms
    epoch_ms(last_ts) AS last_ms,  -- last such record in the window, epoch ms
    comm  -- command of the latest record (apparmor_parser, or the confined program)
FROM (SELECT * FROM removed UNION ALL SELECT * FROM complain);
