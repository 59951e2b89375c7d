-- name: alert_window_views
-- grain: DDL: the store's view names over the alert engine's in-memory window tables
-- parameters: none
-- The continuous alert path keeps recent rows in an in-memory DuckDB (tables records and
-- loss, created from the first batch) and runs the same alert_*.sql jobs over these
-- views. They mirror the store's views (sinks/sql/views.sql: denials, complain_events,
-- profile_status) column for column where the jobs read them; tests/jobs/test_alerts.py
-- checks that both give the same alerts on the bundled samples.
CREATE OR REPLACE VIEW denials AS
WITH d AS (
    SELECT
        *,  -- every window column of records
        coalesce(profile, scontext) AS subject,  -- AppArmor profile, else SELinux scontext
        coalesce(class, tclass) AS object_class,  -- AppArmor class, else SELinux tclass
        CASE  -- the denied object, by class
            WHEN capname IS NOT NULL THEN capname
            WHEN class = 'signal' THEN coalesce(signal, '?') || ' -> ' || coalesce(peer, '?')
            WHEN class = 'ptrace' THEN coalesce(peer, name)
            WHEN class = 'dbus' THEN concat_ws(' ', bus, path, interface, member)
            WHEN class IN ('unix') THEN coalesce(addr, peer_addr, name)
            WHEN class IN ('net', 'network') AND name IS NULL
                THEN concat_ws(' ', family, sock_type, protocol)
            ELSE coalesce(name, path, name2, addr, peer, tcontext)
        END AS object
    FROM records
    WHERE apparmor IN ('DENIED', 'KILL') OR seresult = 'denied'
)
SELECT
    *,
    regexp_replace(regexp_replace(object, '/[0-9]+(/|$)', '/*\1', 'g'),
                   '/[0-9]+(/|$)', '/*\1', 'g') AS object_pattern  -- digits as '*'
FROM d;

CREATE OR REPLACE VIEW complain_events AS
SELECT
    *,  -- every window column of records
    profile AS subject,  -- the AppArmor profile in complain mode
    class AS object_class,  -- AppArmor class
    CASE  -- the object, by class
        WHEN capname IS NOT NULL THEN capname
        WHEN class = 'signal' THEN coalesce(signal, '?') || ' -> ' || coalesce(peer, '?')
        WHEN class = 'ptrace' THEN coalesce(peer, name)
        WHEN class = 'dbus' THEN concat_ws(' ', bus, path, interface, member)
        WHEN class IN ('unix') THEN coalesce(addr, peer_addr, name)
        WHEN class IN ('net', 'network') AND name IS NULL
            THEN concat_ws(' ', family, sock_type, protocol)
        ELSE coalesce(name, path, name2, addr, peer)
    END AS object
FROM records
WHERE apparmor = 'ALLOWED';

CREATE OR REPLACE VIEW profile_status AS
SELECT
    ts,  -- when the kernel logged the change
    host,  -- host name
    operation,  -- profile_load | profile_replace | profile_remove
    name AS profile_name,  -- the profile loaded, replaced or removed
    comm  -- command that changed policy
FROM records
WHERE apparmor = 'STATUS'
  AND operation IN ('profile_load', 'profile_replace', 'profile_remove');
