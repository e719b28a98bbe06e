-- The delivery log's documents become plain text: misthook writes the records itself
-- (valid JSON already), so PostgreSQL need not check each one as it is inserted
-- (bench/store_paths.py: 0.80 of the server CPU per record, side by side); reads that
-- look into a record parse it, as they already did. (A BRIN index by time was tried
-- too and left out: retention frees pages that new records refill, and a BRIN range's
-- summary only ever widens, so every prune would come to read the whole table.)
ALTER TABLE IF EXISTS deliveries ALTER COLUMN doc TYPE TEXT;
