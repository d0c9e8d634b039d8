-- Pending pieces are written once and deleted within seconds (when their bytes join a part), so
-- under load their table holds mostly dead rows: a 1 MiB piece is ~520 TOAST rows. With the
-- default thresholds (a fifth of the live rows) and throttling, autovacuum let the TOAST table
-- grow by everything written between two runs (1.6 GB after 1.5 GiB of 1 MiB PATCHes). Vacuum
-- it whenever autovacuum looks, unthrottled: its space is then reused instead of extended.
ALTER TABLE pending_pieces SET (
    autovacuum_vacuum_threshold = 16,
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_cost_delay = 0,
    toast.autovacuum_vacuum_threshold = 4096,
    toast.autovacuum_vacuum_scale_factor = 0,
    toast.autovacuum_vacuum_cost_delay = 0
);
