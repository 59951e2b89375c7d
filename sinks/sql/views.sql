-- name: views
-- grain: DDL: the views over the armorwatch store, with the macros they call
-- include: derived
-- Views over the armorwatch store (DuckDB). Recreated when a writer opens a store whose
-- views another definition made, so a new armorwatch version can change them without a
-- migration. Jobs, saved queries and
-- analysts read these names; every output column carries a comment.
--
-- The columns denials and complain_events derive (subject, object_class, object,
-- object_pattern) are the macros of parsers/sql/derived.sql, included above, which the
-- continuous alert window (jobs/sql/alert_window_views.sql) runs too.

-- view: denials
-- grain: one row per denied access (AppArmor apparmor DENIED or KILL, SELinux seresult
-- denied), kernel and userspace (USER_AVC) alike, forged-looking ones too: filter
-- suspect IS NULL for the records alerts, reports and suggestions use.
CREATE OR REPLACE TEMP VIEW denials AS
SELECT
    *,  -- every column of records
    -- subject (AppArmor profile, else SELinux scontext), object_class (class=, else tclass,
    -- else derived: records.mediation_class), object (the denied object, by class),
    -- object_pattern (object with all-digit path components as '*')
    unnest(aw_derived_columns(records))
FROM records
WHERE aw_is_denial(records);

-- view: complain_events
-- grain: one row per access a complain-mode AppArmor profile allowed but would deny
-- (apparmor ALLOWED); same derived columns as denials.
CREATE OR REPLACE TEMP VIEW complain_events AS
SELECT
    *,  -- every column of records
    -- subject (the AppArmor profile in complain mode), object_class (AppArmor class=, else
    -- derived from the operation), object, object_pattern: as in denials
    unnest(aw_derived_columns(records, selinux := false))
FROM records
WHERE aw_is_complain(records);

-- view: profile_status
-- grain: one row per AppArmor policy change (apparmor STATUS, operation profile_load,
-- profile_replace or profile_remove): the load/replace/remove history of every host.
CREATE OR REPLACE TEMP VIEW profile_status AS
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
WHERE aw_is_policy_change(records);

-- view: denials_by_profile_hour
-- grain: one row per (hour, host, lsm, profile, class) with at least one denial.
CREATE OR REPLACE TEMP VIEW denials_by_profile_hour AS
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
CREATE OR REPLACE TEMP VIEW top_denied_objects AS
SELECT
    lsm,  -- apparmor | selinux
    subject AS profile,  -- AppArmor profile, else SELinux scontext
    object_class AS class,  -- AppArmor class, else SELinux tclass
    operation,  -- AppArmor operation (open, exec, connect, ...); null for SELinux
    object,  -- the denied object (parsers/sql/derived.sql)
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
CREATE OR REPLACE TEMP VIEW new_denials AS
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

-- view: profile_modes
-- grain: one row per (host, namespace, profile) ever read loaded: its mode at the latest
-- reading that listed it (table profile_state, read by the collector from securityfs).
-- loaded is false when the host's latest reading no longer lists it (unloaded since).
CREATE OR REPLACE TEMP VIEW profile_modes AS
WITH latest AS (
    SELECT host, max(ts) AS host_read_at FROM profile_state GROUP BY host
)
SELECT
    p.host AS host,  -- host name (the collector's)
    p.namespace AS namespace,  -- AppArmor policy namespace: root is the host's own
    p.profile AS profile,  -- profile name as the kernel lists it
    arg_max(p.mode, p.ts) AS mode,  -- mode at the latest reading that listed it (enforce, complain, ...)
    max(p.ts) AS read_at,  -- when that reading was taken
    any_value(l.host_read_at) AS host_read_at,  -- the host's latest reading of any profile
    max(p.ts) = any_value(l.host_read_at) AS loaded  -- listed by the host's latest reading
FROM profile_state AS p
JOIN latest AS l ON l.host = p.host
GROUP BY p.host, p.namespace, p.profile;

-- view: pod_profile_mismatches
-- grain: one row per trustworthy AppArmor denial of a pod's container whose denying profile
-- is not the one its pod spec asked for (records.pod_apparmor_profile, schema v5):
-- localhost/NAME denied by another profile than NAME (or its hats NAME//x), runtime/default
-- denied by a profile that is no container runtime's default, unconfined denied at all.
-- Pods that asked for nothing are not listed (the runtime chose for them).
CREATE OR REPLACE TEMP VIEW pod_profile_mismatches AS
SELECT
    ts,  -- when the kernel denied it
    host,  -- node name
    pod_namespace,  -- namespace of the pod
    pod_name,  -- pod name
    container_name,  -- container name in the pod spec
    container_id,  -- container id (from the pid's cgroup)
    pod_apparmor_profile AS asked,  -- what the pod spec asked for: localhost/NAME, runtime/default, unconfined
    subject AS denied_by,  -- the AppArmor profile that denied (records.profile)
    object_class AS class,  -- AppArmor class
    operation,  -- AppArmor operation
    object,  -- the denied object
    rid  -- record id (see records.rid)
-- Derived (as in denials) only for the records this view keeps: through `denials` the
-- derived columns were computed for every record first (+108 MB and 0.8 s on a 200k-line
-- fleet without one pod). For AppArmor records subject is profile.
FROM (
    SELECT *, unnest(aw_derived_columns(records))
    FROM (
        SELECT * FROM records
        WHERE lsm = 'apparmor'
          AND suspect IS NULL
          AND pod_apparmor_profile IS NOT NULL
          AND profile IS NOT NULL
          AND CASE
              WHEN pod_apparmor_profile LIKE 'localhost/%' THEN
                  profile <> substr(pod_apparmor_profile, 11)
                  AND NOT starts_with(profile, substr(pod_apparmor_profile, 11) || '//')
              WHEN pod_apparmor_profile = 'runtime/default' THEN
                  -- containerd, Docker, CRI-O (old and containers/common names)
                  profile NOT IN ('cri-containerd.apparmor.d', 'docker-default', 'crio-default')
                  AND NOT starts_with(profile, 'containers-default')
              ELSE true  -- unconfined, or a value this version does not know: any denial differs
          END
    ) AS records
    WHERE aw_is_denial(records)
);
