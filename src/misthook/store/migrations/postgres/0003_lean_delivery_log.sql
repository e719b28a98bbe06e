-- The delivery log is written once per message and read only per webhook and by time:
-- the indexes by org, site and status cost every insert and served no query.
DROP INDEX IF EXISTS deliveries_org_id;
DROP INDEX IF EXISTS deliveries_site_id;
DROP INDEX IF EXISTS deliveries_lookup;
