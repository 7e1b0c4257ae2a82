-- The entries renewal_diff.sql classified 'd' (no longer wanted).
-- Filled in: the entry table. No parameters.
DELETE FROM {entry} WHERE id IN (SELECT d.entry_id FROM renewal_diff d WHERE d.kind = 'd')
