-- Worker processes alive now, so that each leases its fair share of the streams.
CREATE TABLE workers (
    owner TEXT PRIMARY KEY,
    alive_until DOUBLE PRECISION NOT NULL
);
