-- Counters that every process adds to (API call budgets per token and hour), each kept
-- until it expires.
CREATE TABLE IF NOT EXISTS counters (
    key TEXT PRIMARY KEY,
    n INTEGER NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS counters_expires_at ON counters (expires_at);
