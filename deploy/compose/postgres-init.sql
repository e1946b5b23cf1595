-- First-start initialisation of the application's PostgreSQL (docker-compose.yml mounts this into
-- /docker-entrypoint-initdb.d/, so it runs once, when the data volume is empty, as the superuser).
--
-- Creates the two roles the service expects and its database, mirroring
-- devtools/devstack/localstack/postgres.py:
--   integrations_owner  owns the schema; `integrations migrate` connects as it
--   integrations_app    what workers and the API connect as; migrations grant it DML only
-- Passwords come from the container's environment (DB_OWNER_PASSWORD, DB_APP_PASSWORD), which
-- docker-compose.yml fills from your .env file: nothing secret lives in this file.

\getenv owner_password DB_OWNER_PASSWORD
\getenv app_password DB_APP_PASSWORD

\if :{?owner_password}
\else
    DO $$ BEGIN RAISE EXCEPTION 'DB_OWNER_PASSWORD is not set in the postgres container'; END $$;
\endif
\if :{?app_password}
\else
    DO $$ BEGIN RAISE EXCEPTION 'DB_APP_PASSWORD is not set in the postgres container'; END $$;
\endif

CREATE ROLE integrations_owner LOGIN PASSWORD :'owner_password';
CREATE ROLE integrations_app LOGIN PASSWORD :'app_password';
\unset owner_password
\unset app_password

CREATE DATABASE integrations OWNER integrations_owner;
REVOKE ALL ON DATABASE integrations FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE integrations TO integrations_app;

\connect integrations
-- PostgreSQL 15 no longer lets PUBLIC create in schema public; the owner must own it.
ALTER SCHEMA public OWNER TO integrations_owner;
GRANT USAGE ON SCHEMA public TO integrations_app;
