-- PostgreSQL's segments get bodies compressed by misthook from this version on; SQLite
-- keeps a row per event: nothing to do here.
SELECT 1;
