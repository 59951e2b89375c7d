-- name: suggest_events
-- grain: one row per distinct rule-relevant AppArmor event shape (decision, label, operation, class, object fields, masks, fsuid/ouid) among DENIED/KILL and complain-mode ALLOWED records
-- param since: timestamp  -- in UTC or NULL; inclusive lower bound of ts
-- param until: timestamp  -- in UTC or NULL; inclusive upper bound of ts
-- param host: varchar  -- only records of this host (NULL: every host)
-- param labels: varchar[]  -- only events of these labels as logged (NULL: every label)
-- Only records nothing marks as forged-looking (suspect IS NULL) may suggest a rule.
-- name_token keeps records whose name text is the same but whose bytes differ apart:
-- the name column shows undecodable bytes as \xNN text, so for a name holding a
-- backslash the name= token of the byte-exact raw line is grouped on too (jobs.suggest
-- recovers and verifies the exact bytes from it).
-- The rows of the views denials and complain_events (the same macros, aw_is_denial and
-- aw_is_complain of parsers/sql/derived.sql, decide), read from records: the views pass
-- the whole record (raw included) to their macros and derive columns this job never
-- reads, ~15-25 MB more of the fleet report's peak. The macros get a row of only the
-- fields they read: one they start reading is a binder error here, never a difference.
WITH ev AS (
    SELECT
        'DENIED' AS decision, ts, host, boot_id, serial, pid, comm, raw, origin,
        profile, label, operation, class, name, name2, requested_mask, denied_mask,
        fsuid, ouid, capname, family, sock_type, protocol, addr, peer_addr, laddr, lport,
        faddr, fport, signal, peer, peer_label, bus, path, interface, member, fstype,
        flags, srcname, tcontext, info
    FROM records
    WHERE lsm = 'apparmor' AND suspect IS NULL
      AND aw_is_denial({'apparmor': apparmor, 'seresult': seresult})
      AND ($labels IS NULL OR list_contains($labels, coalesce(profile, label)))
    UNION ALL
    SELECT
        'ALLOWED' AS decision, ts, host, boot_id, serial, pid, comm, raw, origin,
        profile, label, operation, class, name, name2, requested_mask, denied_mask,
        fsuid, ouid, capname, family, sock_type, protocol, addr, peer_addr, laddr, lport,
        faddr, fport, signal, peer, peer_label, bus, path, interface, member, fstype,
        flags, srcname, tcontext, info
    FROM records
    WHERE suspect IS NULL
      AND aw_is_complain({'apparmor': apparmor})
      AND ($labels IS NULL OR list_contains($labels, coalesce(profile, label)))
)
SELECT
    decision,  -- DENIED (enforce) or ALLOWED (complain mode)
    origin,  -- kernel, or userspace (USER_AVC, journald non-kernel transport)
    coalesce(profile, label) AS profile,  -- the full label as logged (ns, hats, stacks)
    operation,  -- kernel operation (open, exec, capable, connect, ...)
    class,  -- mediation class (file, cap, net, unix, ...)
    name,  -- object name: path, mount point, dbus name, mqueue name
    CASE WHEN contains(name, '\')
        -- DuckDB renders a BLOB as ASCII with \xHH for other bytes: unambiguous
        THEN regexp_extract(CAST(raw AS VARCHAR), '(?:^|\s)name=(\S+)', 1)
    END AS name_token,  -- the raw name= token when the name text holds a backslash
    name2,  -- target= (exec/change_profile target)
    requested_mask,  -- requested= / requested_mask=
    denied_mask,  -- denied= / denied_mask=
    fsuid,  -- filesystem uid of the process
    ouid,  -- owner uid of the object
    capname,  -- capability name
    family,  -- socket family
    sock_type,  -- socket type
    protocol,  -- socket protocol
    addr,  -- unix local address
    peer_addr,  -- unix peer address
    laddr,  -- inet local address
    lport,  -- inet local port
    faddr,  -- inet foreign address
    fport,  -- inet foreign port
    signal,  -- signal name
    peer,  -- signal/ptrace/unix peer label
    peer_label,  -- dbus peer label
    bus,  -- dbus bus
    path,  -- dbus object path
    interface,  -- dbus interface
    member,  -- dbus member
    fstype,  -- mount fstype
    flags,  -- mount flags
    srcname,  -- mount source / pivot_root old root
    tcontext,  -- io_uring target label
    info,  -- kernel info= text
    count(*) AS events,  -- records in this group
    -- list_distinct(list(x)), not list(DISTINCT x): each DISTINCT aggregate is grouped
    -- again on all the columns above and joined back (twice the time on a fleet week)
    list_sort(list_distinct(list(host))) AS hosts,  -- hosts that logged them (sorted; no NULL)
    list_distinct(list(concat_ws(':', host, boot_id, pid))) AS processes,  -- distinct host:boot:pid
    list_sort(list_distinct(list(comm))) AS comms,  -- distinct command names (sorted; no NULL)
    timezone('UTC', min(ts)) AS first_seen,  -- earliest event time (UTC)
    timezone('UTC', max(ts)) AS last_seen,  -- latest event time (UTC)
    -- max of the struct, not arg_max(raw, (ts, serial, raw)): one copy of each line in
    -- the aggregate state instead of two (the same line is chosen)
    max({'ts': ts, 'serial': serial, 'raw': raw}).raw AS example,  -- the newest original line(s), byte-exact (ties: the higher serial, then the bytes)
    -- min_by(…, 5), not list(… ORDER BY ts, host, serial)[1:5]: the same five, oldest
    -- first, kept as the rows stream in instead of a list sorted per group afterwards
    min_by(
        {'host': host, 'ts': timezone('UTC', ts), 'serial': serial},
        {'ts': ts, 'host': host, 'serial': serial},
        5
    ) AS sample_keys  -- up to 5 record keys
FROM ev
WHERE ts >= coalesce(timezone('UTC', CAST($since AS TIMESTAMP)), '-infinity'::TIMESTAMPTZ)
  AND ts <= coalesce(timezone('UTC', CAST($until AS TIMESTAMP)), 'infinity'::TIMESTAMPTZ)
  AND ($host IS NULL OR host = $host)
GROUP BY ALL
-- Ties broken by the group's own values, so the output is the same on every run (DuckDB
-- groups in parallel, in no fixed order).
ORDER BY events DESC, last_seen DESC, example
