-- PostgreSQL keeps the delivery log's documents as plain text from this version on;
-- SQLite always kept them as text: nothing to do here.
SELECT 1;
