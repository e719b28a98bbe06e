-- The event log, and one stream per webhook x topic. Collection tables are created
-- from misthook.store.base.COLLECTIONS at open (see misthook.store.sql.collection_ddl).

-- AUTOINCREMENT: a sequence number is never reused, even after pruning the newest events.
CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    site_id TEXT,
    topic TEXT NOT NULL,
    timestamp REAL NOT NULL,
    body BLOB NOT NULL
);
-- read_events of an org stream, and of a site stream: index range scans.
CREATE INDEX events_topic_org_seq ON events (topic, org_id, seq);
CREATE INDEX events_topic_site_seq ON events (topic, site_id, seq);
CREATE INDEX events_timestamp ON events (timestamp);

CREATE TABLE streams (
    webhook_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    org_id TEXT NOT NULL,
    site_id TEXT,
    cursor INTEGER NOT NULL DEFAULT 0,
    attempt INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    failing_since REAL,
    lease_owner TEXT,
    lease_until REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (webhook_id, topic)
);
CREATE INDEX streams_next_attempt_at ON streams (next_attempt_at);
