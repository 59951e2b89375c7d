-- name: derived
-- grain: DDL: the macros that derive a MAC record's decision and object columns
-- Written once for the store's views (sinks/sql/views.sql) and the continuous alert
-- window (jobs/sql/alert_window_views.sql): both include this file before their views, so
-- a signature the store seeds and one the window sees compare equal. Each macro takes the
-- record as a row (`aw_object(records)`); DuckDB reads only the fields it uses.
-- TEMP: DuckLake stores no macros, so every store connection defines them (and the views
-- that call them) when it opens (sinks/store.py).
--   object_class    mediation_class (AppArmor class=, else SELinux tclass, else derived
--                   from the operation and fields present)
--   object          the object, by class: file/mount/exec name, capability name, unix
--                   socket address, signal or ptrace peer, D-Bus 'destination path
--                   interface member', network family/type/protocol, else SELinux
--                   path/name/tcontext
--   object_pattern  object with every all-digit path component replaced by '*'
--                   (/proc/1234/fd/7 -> /proc/*/fd/*): the grain of "new" denials
--   subject         who was denied/allowed: the AppArmor profile, else the SELinux scontext
-- `selinux := false` (complain mode, which is AppArmor's) leaves the SELinux fields
-- scontext, tclass and tcontext out.

-- aw_is_denial(r): a denied access, AppArmor DENIED or KILL or SELinux denied
CREATE OR REPLACE TEMP MACRO aw_is_denial(r) AS
    r.apparmor IN ('DENIED', 'KILL') OR r.seresult = 'denied';

-- aw_is_complain(r): an access a complain-mode AppArmor profile allowed but would deny
CREATE OR REPLACE TEMP MACRO aw_is_complain(r) AS r.apparmor = 'ALLOWED';

-- aw_is_policy_change(r): an AppArmor profile load, replace or remove
CREATE OR REPLACE TEMP MACRO aw_is_policy_change(r) AS
    r.apparmor = 'STATUS'
    AND r.operation IN ('profile_load', 'profile_replace', 'profile_remove');

CREATE OR REPLACE TEMP MACRO aw_object_class(r, selinux := true) AS
    coalesce(r.mediation_class, r.class, CASE WHEN selinux THEN r.tclass END);

CREATE OR REPLACE TEMP MACRO aw_object(r, selinux := true) AS
    CASE
        WHEN r.capname IS NOT NULL THEN r.capname
        WHEN coalesce(r.mediation_class, r.class) = 'signal'
            THEN coalesce(r.signal, '?') || ' -> ' || coalesce(r.peer, '?')
        WHEN coalesce(r.mediation_class, r.class) = 'ptrace' THEN coalesce(r.peer, r.name)
        WHEN coalesce(r.mediation_class, r.class) = 'dbus' OR r.bus IS NOT NULL
            THEN concat_ws(' ', r.name, r.path, r.interface, r.member)
        WHEN coalesce(r.mediation_class, r.class) IN ('unix')
            THEN coalesce(r.addr, r.peer_addr, r.name)
        WHEN coalesce(r.mediation_class, r.class) IN ('net', 'network') AND r.name IS NULL
            THEN concat_ws(' ', r.family, r.sock_type, r.protocol)
        ELSE coalesce(r.name, r.path, r.name2, r.addr, r.peer,
                      CASE WHEN selinux THEN r.tcontext END)
    END;

-- two passes: the first leaves the second of two adjacent all-digit components
CREATE OR REPLACE TEMP MACRO aw_object_pattern(object) AS
    regexp_replace(regexp_replace(object, '/[0-9]+(/|$)', '/*\1', 'g'),
                   '/[0-9]+(/|$)', '/*\1', 'g');

-- aw_derived_columns(r): subject, object_class, object, object_pattern as one struct, for
-- `SELECT *, unnest(aw_derived_columns(records))`: the columns denials and
-- complain_events add to a record, in that order
CREATE OR REPLACE TEMP MACRO aw_derived_columns(r, selinux := true) AS {
    'subject': coalesce(r.profile, CASE WHEN selinux THEN r.scontext END),  -- who was denied or allowed: the AppArmor profile, else the SELinux scontext
    'object_class': aw_object_class(r, selinux := selinux),  -- what kind of object: mediation_class (AppArmor class=, else SELinux tclass, else derived from the operation)
    'object': aw_object(r, selinux := selinux),  -- the object, by class: file/mount/exec name, capability, unix address, signal/ptrace peer, D-Bus destination path interface member, network family/type/protocol, else SELinux path/name/tcontext
    'object_pattern': aw_object_pattern(aw_object(r, selinux := selinux))  -- object with every all-digit path component as '*' (/proc/1234/fd/7 -> /proc/*/fd/*): the grain of new denials
};
