-- name: alert_forged
-- grain: one row per (host, suspect reason) with forged-looking records in [since, until)
-- param since: timestamptz  -- start of the window, inclusive
-- param until: timestamptz  -- end of the window, exclusive
-- Records that claim to come from the kernel but look written from userspace (`logger -t
-- kernel`, USER_AVC class="file", a repeated field, a NUL in a path, an unverified kernel:
-- line): they drive no other alert; jobs.alerts merges these rows into one alert per host.
SELECT
    host,  -- host the records were stored for
    suspect AS reason,  -- why they look forged (parsers/schema.py SUSPECT_*)
    count(*) AS records,  -- forged-looking records in the window
    epoch_ms(min(ts)) AS first_ms,  -- first such record in the window, epoch ms
    epoch_ms(max(ts)) AS last_ms,  -- last such record in the window, epoch ms
    arg_max(raw, ts) AS example,  -- the latest such record's bytes
    list(DISTINCT source ORDER BY source) AS sources,  -- logs they came from
    list(DISTINCT origin ORDER BY origin) AS origins  -- kernel | userspace | unverified
FROM alert_forged
WHERE ts >= $since AND ts < $until
GROUP BY host, suspect;
