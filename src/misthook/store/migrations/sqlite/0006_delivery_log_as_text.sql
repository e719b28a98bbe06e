-- PostgreSQL keeps the delivery log's documents as plain text, with a BRIN time index,
-- from this version on; SQLite always kept them as text, and has no BRIN: nothing to do.
SELECT 1;
