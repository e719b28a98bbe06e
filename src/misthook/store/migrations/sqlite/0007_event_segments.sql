-- PostgreSQL keeps its event log in segments from this version on (misthook.store.segments);
-- SQLite keeps a row per event, in the process that reads them: nothing to do here.
SELECT 1;
