-- The event log, and one stream per webhook x topic. Collection tables are created
-- from misthook.store.base.COLLECTIONS at open (see misthook.store.sql.collection_ddl).

CREATE TABLE events (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    site_id TEXT,
    topic TEXT NOT NULL,
    timestamp DOUBLE PRECISION NOT NULL,
    body BYTEA NOT NULL
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
    cursor BIGINT NOT NULL DEFAULT 0,
    attempt INTEGER NOT NULL DEFAULT 0,
    next_attempt_at DOUBLE PRECISION NOT NULL DEFAULT 0,
    failing_since DOUBLE PRECISION,
    lease_owner TEXT,
    lease_until DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (webhook_id, topic)
);
CREATE INDEX streams_next_attempt_at ON streams (next_attempt_at);
