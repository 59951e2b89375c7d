-- name: alert_loss
-- grain: one row per (host, source, kind) of counted loss in [since, until)
-- param since: timestamptz  -- start of the window, inclusive
-- param until: timestamptz  -- end of the window, exclusive
SELECT
    host,  -- host that lost records
    source,  -- log the loss was counted in
    kind,  -- kernel_lost, source_blind, rotated_away_unread, ... (parsers/schema.py LOSS_*)
    sum(count) AS lost,  -- records or lines lost
    count(*) AS reports,  -- loss rows behind the sum
    epoch_ms(min(ts)) AS first_ms,  -- first report in the window, epoch ms
    epoch_ms(max(ts)) AS last_ms,  -- last report in the window, epoch ms
    arg_max(detail, ts) AS detail  -- the latest report's detail (file, cursor, reason)
FROM loss
WHERE ts >= $since AND ts < $until
GROUP BY ALL;
