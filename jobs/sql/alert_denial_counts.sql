-- name: alert_denial_counts
-- grain: one row per (host, lsm, origin, profile, class) with a denial in [baseline_since, until)
-- param baseline_since: timestamptz  -- start of the baseline, inclusive
-- param since: timestamptz  -- start of the alert window, inclusive
-- param until: timestamptz  -- end of the window, exclusive
-- Used by the threshold and spike rules; jobs.alerts rolls rows up to each rule's keys.
SELECT
    host,  -- host name
    lsm,  -- apparmor | selinux
    origin,  -- kernel | userspace (USER_AVC text can be forged)
    subject AS profile,  -- AppArmor profile, else SELinux scontext
    object_class AS class,  -- AppArmor class, else SELinux tclass
    count(*) FILTER (WHERE ts >= $since) AS current,  -- denials in [since, until)
    count(*) FILTER (WHERE ts < $since) AS baseline,  -- denials in [baseline_since, since)
    epoch_ms(min(ts) FILTER (WHERE ts >= $since)) AS first_ms,  -- first denial in the window, epoch ms
    epoch_ms(max(ts) FILTER (WHERE ts >= $since)) AS last_ms,  -- last denial in the window, epoch ms
    arg_max(object, ts) FILTER (WHERE ts >= $since) AS example,  -- the latest denied object
    count(DISTINCT object) FILTER (WHERE ts >= $since) AS objects  -- distinct objects in the window
FROM denials
-- suspect: forged-looking records never count (they raise alert_forged instead)
WHERE ts >= $baseline_since AND ts < $until AND suspect IS NULL
GROUP BY ALL;
