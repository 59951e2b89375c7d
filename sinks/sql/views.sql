-- Views over the armorwatch store (DuckDB). Recreated on every open of a writer, so a
-- new armorwatch version can change them without a migration. Jobs, saved queries and
-- analysts read these names; every output column carries a comment.
--
-- Shared derived columns (denials, complain_events):
--   subject       who was denied/allowed: the AppArmor profile, else the SELinux scontext
--   object_class  what kind of object: mediation_class (AppArmor class=, else SELinux
--                 tclass, else derived from the operation and fields present)
--   object        the object, by class: file/mount/exec name, capability name, unix
--                 socket address, signal or ptrace peer, D-Bus 'destination path
--                 interface member', network
--                 family/type/protocol, else SELinux path/name/tcontext
--   object_pattern  object with every all-digit path component replaced by '*'
--                 (/proc/1234/fd/7 -> /proc/*/fd/*): the grain of "new" denials

-- view: denials
-- grain: one row per denied access (AppArmor apparmor DENIED or KILL, SELinux seresult
-- denied), kernel and userspace (USER_AVC) alike, forged-looking ones too: filter
-- suspect IS NULL for the records alerts, reports and suggestions use.
CREATE OR REPLACE VIEW denials AS
WITH d AS (
    SELECT
        *,  -- every column of records
        coalesce(profile, scontext) AS subject,  -- AppArmor profile, else SELinux scontext
        coalesce(mediation_class, class, tclass) AS object_class,  -- class=, else tclass, else derived (records.mediation_class)
        CASE  -- the denied object, by class (see the header)
            WHEN capname IS NOT NULL THEN capname
            WHEN coalesce(mediation_class, class) = 'signal' THEN coalesce(signal, '?') || ' -> ' || coalesce(peer, '?')
            WHEN coalesce(mediation_class, class) = 'ptrace' THEN coalesce(peer, name)
            WHEN coalesce(mediation_class, class) = 'dbus' OR bus IS NOT NULL
                THEN concat_ws(' ', name, path, interface, member)
            WHEN coalesce(mediation_class, class) IN ('unix') THEN coalesce(addr, peer_addr, name)
            WHEN coalesce(mediation_class, class) IN ('net', 'network') AND name IS NULL
                THEN concat_ws(' ', family, sock_type, protocol)
            ELSE coalesce(name, path, name2, addr, peer, tcontext)
        END AS object
    FROM records
    WHERE apparmor IN ('DENIED', 'KILL') OR seresult = 'denied'
)
SELECT
    *,
    -- object with all-digit path components as '*' (two passes: adjacent components)
    regexp_replace(regexp_replace(object, '/[0-9]+(/|$)', '/*\1', 'g'),
                   '/[0-9]+(/|$)', '/*\1', 'g') AS object_pattern
FROM d;

-- view: complain_events
-- grain: one row per access a complain-mode AppArmor profile allowed but would deny
-- (apparmor ALLOWED); same derived columns as denials.
CREATE OR REPLACE VIEW complain_events AS
WITH c AS (
    SELECT
        *,  -- every column of records
        profile AS subject,  -- the AppArmor profile in complain mode
        coalesce(mediation_class, class) AS object_class,  -- AppArmor class=, else derived from the operation
        CASE  -- the object, by class (see the header)
            WHEN capname IS NOT NULL THEN capname
            WHEN coalesce(mediation_class, class) = 'signal' THEN coalesce(signal, '?') || ' -> ' || coalesce(peer, '?')
            WHEN coalesce(mediation_class, class) = 'ptrace' THEN coalesce(peer, name)
            WHEN coalesce(mediation_class, class) = 'dbus' OR bus IS NOT NULL
                THEN concat_ws(' ', name, path, interface, member)
            WHEN coalesce(mediation_class, class) IN ('unix') THEN coalesce(addr, peer_addr, name)
            WHEN coalesce(mediation_class, class) IN ('net', 'network') AND name IS NULL
                THEN concat_ws(' ', family, sock_type, protocol)
            ELSE coalesce(name, path, name2, addr, peer)
        END AS object
    FROM records
    WHERE apparmor = 'ALLOWED'
)
SELECT
    *,
    -- object with all-digit path components as '*'
    regexp_replace(regexp_replace(object, '/[0-9]+(/|$)', '/*\1', 'g'),
                   '/[0-9]+(/|$)', '/*\1', 'g') AS object_pattern
FROM c;

-- view: profile_status
-- grain: one row per AppArmor policy change (apparmor STATUS, operation profile_load,
-- profile_replace or profile_remove): the load/replace/remove history of every host.
CREATE OR REPLACE VIEW profile_status AS
SELECT
    ts,  -- when the kernel logged the change
    host,  -- host name
    machine_id,  -- /etc/machine-id of the host
    boot_id,  -- boot the change happened in
    source,  -- which log it came from
    operation,  -- profile_load | profile_replace | profile_remove
    name AS profile_name,  -- the profile loaded, replaced or removed
    profile AS actor_profile,  -- confinement of the process that changed policy (usually unconfined)
    label,  -- label of that process when logged as label=
    namespace,  -- policy namespace, when not the root one
    info,  -- kernel info= text (e.g. a parse or replace error)
    error,  -- kernel error= (negative errno), null on success
    pid,  -- process that loaded the policy (apparmor_parser)
    comm,  -- its command name
    origin,  -- kernel | userspace | unverified (see records.origin)
    suspect,  -- why the record looks forged, null when nothing does (see records.suspect)
    rid  -- record id (see records.rid)
FROM records
WHERE apparmor = 'STATUS'
  AND operation IN ('profile_load', 'profile_replace', 'profile_remove');

-- view: denials_by_profile_hour
-- grain: one row per (hour, host, lsm, profile, class) with at least one denial.
CREATE OR REPLACE VIEW denials_by_profile_hour AS
SELECT
    date_trunc('hour', ts) AS hour,  -- start of the UTC hour
    host,  -- host name
    lsm,  -- apparmor | selinux
    subject AS profile,  -- AppArmor profile, else SELinux scontext
    object_class AS class,  -- AppArmor class, else SELinux tclass
    count(*) AS denials,  -- denied accesses in that hour (duplicates already removed)
    count(DISTINCT object) AS objects,  -- distinct objects denied
    min(ts) AS first_ts,  -- first denial in the hour
    max(ts) AS last_ts  -- last denial in the hour
FROM denials
GROUP BY ALL;

-- view: top_denied_objects
-- grain: one row per (lsm, profile, class, operation, object, denied permissions), all
-- time; saved query top-denials is the same with a time window.
CREATE OR REPLACE VIEW top_denied_objects AS
SELECT
    lsm,  -- apparmor | selinux
    subject AS profile,  -- AppArmor profile, else SELinux scontext
    object_class AS class,  -- AppArmor class, else SELinux tclass
    operation,  -- AppArmor operation (open, exec, connect, ...); null for SELinux
    object,  -- the denied object (see the header)
    coalesce(denied_mask, array_to_string(perms, ' ')) AS denied,  -- AppArmor denied_mask or SELinux permissions
    count(*) AS denials,  -- number of denials
    count(DISTINCT host) AS hosts,  -- hosts it happened on
    min(ts) AS first_seen,  -- first denial
    max(ts) AS last_seen  -- latest denial
FROM denials
GROUP BY ALL;

-- view: new_denials
-- grain: one row per (lsm, profile, class, object_pattern), fleet-wide: when it was
-- first seen anywhere. Filter first_seen >= $since for what is new in a window.
CREATE OR REPLACE VIEW new_denials AS
SELECT
    lsm,  -- apparmor | selinux
    subject AS profile,  -- AppArmor profile, else SELinux scontext
    object_class AS class,  -- AppArmor class, else SELinux tclass
    object_pattern,  -- object with all-digit path components as '*'
    min(ts) AS first_seen,  -- first denial of this pattern on any host
    arg_min(host, ts) AS first_host,  -- the host it was first seen on
    arg_min(object, ts) AS example_object,  -- the first concrete object
    count(DISTINCT host) AS hosts,  -- hosts it has been seen on since
    count(*) AS denials,  -- denials of this pattern, all time
    max(ts) AS last_seen  -- latest denial of this pattern
FROM denials
GROUP BY ALL;
