#!/bin/sh
# Creates the read-only role Grafana's "driftmon results" data source logs in as
# (config/grafana/provisioning/datasources/postgres.yml). The postgres image runs this once,
# when it creates the database (an empty data volume). On a database created before, run it
# by hand: docker compose exec postgres sh /docker-entrypoint-initdb.d/10-grafana-reader.sh
#
#   GRAFANA_DB_USER      the role (default driftmon_grafana)
#   GRAFANA_DB_PASSWORD  its password (required)
#   POSTGRES_USER        the role that owns driftmon's tables (driftmon runs its migrations
#                        as it), POSTGRES_DB the database: set by the postgres image
#
# The role may read every table in the public schema, the ones driftmon's migrations create
# later included (default privileges of the owner), and nothing else; its sessions are
# read-only and end a statement after 30 s.
set -eu
: "${GRAFANA_DB_PASSWORD:?GRAFANA_DB_PASSWORD must be set: the password of Grafana's role}"
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v reader="${GRAFANA_DB_USER:-driftmon_grafana}" -v password="$GRAFANA_DB_PASSWORD" \
  -v owner="$POSTGRES_USER" -v db="$POSTGRES_DB" <<'SQL'
CREATE ROLE :"reader" LOGIN PASSWORD :'password' NOSUPERUSER NOCREATEDB NOCREATEROLE;
ALTER ROLE :"reader" SET default_transaction_read_only = on;
ALTER ROLE :"reader" SET statement_timeout = '30s';
GRANT CONNECT ON DATABASE :"db" TO :"reader";
GRANT USAGE ON SCHEMA public TO :"reader";
GRANT SELECT ON ALL TABLES IN SCHEMA public TO :"reader";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public GRANT SELECT ON TABLES TO :"reader";
SQL
