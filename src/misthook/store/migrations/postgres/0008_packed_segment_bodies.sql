-- Segment bodies compressed by misthook (an lz4 block, misthook.store.segments) rather than
-- by the server: a read then costs the server a copy of the stored bytes, not a
-- decompression of them, and sends a fraction of them (half the server's CPU per read,
-- bench/store_paths.py). Segments appended before stay as they are (bodies_lz4 false) and
-- read as before. Running it again on a migrated database changes nothing.
ALTER TABLE event_segments ADD COLUMN IF NOT EXISTS bodies_lz4 BOOLEAN NOT NULL DEFAULT FALSE;
-- Stored as given, out of line: the server's own compression would only try again.
ALTER TABLE event_segments ALTER COLUMN bodies SET STORAGE EXTERNAL;
