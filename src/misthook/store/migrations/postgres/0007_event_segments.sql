-- The event log in segments (misthook.store.segments): a row holds a run of up to 500
-- consecutive events of one topic, org, site and time, not one event. Appends and reads
-- cost PostgreSQL a fraction per event of a row each, and every worker process reads
-- every event of its streams' scopes. Running it again on a migrated database changes
-- nothing.
CREATE TABLE IF NOT EXISTS event_segments (
    first_seq BIGINT PRIMARY KEY,
    last_seq BIGINT NOT NULL,
    org_id TEXT NOT NULL,
    site_id TEXT,
    topic TEXT NOT NULL,
    newest DOUBLE PRECISION NOT NULL,
    -- Joined by newlines; the lengths only where one of them holds a newline.
    ids TEXT NOT NULL,
    id_sizes INTEGER[],
    bodies BYTEA NOT NULL,
    body_sizes INTEGER[]
);
-- lz4 where the server was built with it (PostgreSQL 14 and later): a fraction of the
-- CPU of the default pglz to compress a segment, and less to read it back.
DO $$
BEGIN
    ALTER TABLE event_segments ALTER COLUMN bodies SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR syntax_error THEN
    NULL;
END
$$;
-- read_events of an org stream, and of a site stream; retention by age.
CREATE INDEX IF NOT EXISTS event_segments_topic_org_last
    ON event_segments (topic, org_id, last_seq);
CREATE INDEX IF NOT EXISTS event_segments_topic_site_last
    ON event_segments (topic, site_id, last_seq);
CREATE INDEX IF NOT EXISTS event_segments_newest ON event_segments (newest);
CREATE SEQUENCE IF NOT EXISTS event_seq;

DO $$
BEGIN
    IF to_regclass('events') IS NOT NULL THEN
        -- Numbers go on from where the events table's left off: cursors refer to them.
        PERFORM setval('event_seq', greatest(last, 1), last > 0) FROM (
            SELECT greatest(
                (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM events_seq_seq),
                (SELECT coalesce(max(seq), 0) FROM events)
            ) AS last
        ) AS numbered;
        -- The events kept so far, a segment each (retention prunes them soon anyway).
        INSERT INTO event_segments (first_seq, last_seq, org_id, site_id, topic, newest, ids,
                                    id_sizes, bodies, body_sizes)
        SELECT seq, seq, org_id, site_id, topic, timestamp, id,
               CASE WHEN strpos(id, E'\n') > 0 THEN ARRAY[length(id)] END, body,
               CASE WHEN position('\x0a'::bytea IN body) > 0 THEN ARRAY[length(body)] END
        FROM events;
        DROP TABLE events;
    END IF;
END
$$;
