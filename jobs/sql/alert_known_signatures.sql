-- name: alert_known_signatures
-- grain: one row per denial signature (lsm, profile, class, object_pattern) ever stored
-- Seeds the continuous path's memory of signatures from the store, so a processor that
-- starts with an empty alert state does not report every old signature as new.
SELECT
    lsm,  -- apparmor | selinux
    subject AS profile,  -- AppArmor profile, else SELinux scontext
    object_class AS class,  -- AppArmor class, else SELinux tclass
    object_pattern,  -- the object with all-digit path components as '*'
    epoch_ms(min(ts)) AS first_ms  -- first denial of the signature, epoch ms
FROM denials
WHERE suspect IS NULL  -- a forged record must not make a real signature look old
GROUP BY ALL;
