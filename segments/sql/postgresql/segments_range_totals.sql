-- Each segment's membership in the range after this run: one row holding, per segment,
-- the count and the ARR in cents of the accounts whose word has its bit (FILTER
-- aggregates in one scan of the range's bits).
-- Filled in by the caller: aggregates ("COUNT(*) FILTER (WHERE (w0 & 4) <> 0), …"),
-- bits_table. No parameters.
SELECT {aggregates} FROM {bits_table};
