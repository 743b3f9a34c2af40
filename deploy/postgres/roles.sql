-- Least privilege for the fulfillment database. Run as the admin (the postgres image's superuser,
-- POSTGRES_USER), connected to our database, with psql:
--
--   psql -X -v ON_ERROR_STOP=1 -d fulfillment \
--        -v migration_role=fulfillment_migration -v migration_password=… \
--        -v app_role=fulfillment_app -v app_password=… \
--        -f deploy/postgres/roles.sql
--
-- It makes two login roles, neither a superuser:
--   migration_role  owns our tables, sequences and functions (schema `public`); `worker migrate`
--                   connects as it and nothing else does.
--   app_role        what worker and landing need and no more: read and write rows of our tables,
--                   use their sequences, run the functions migrations create, take advisory
--                   locks (open to every role). No DDL, no TRUNCATE, no other schema.
-- Default privileges give app_role the same rights on what later migrations create.
--
-- Idempotent: run it again at any time (RUNBOOK.md, "Database roles"). The passwords are
-- optional: a role that exists keeps its password when none is given. The postgres container
-- runs it once, when it initialises an empty data directory (deploy/postgres/initdb-roles.sh).
-- On an existing database it also hands every table, view, sequence and function of `public`
-- over to migration_role, so a deployment whose superuser ran the migrations can switch.

\set ON_ERROR_STOP on

\if :{?migration_role}
\else
  DO $$ BEGIN RAISE EXCEPTION 'roles.sql needs -v migration_role=NAME -v app_role=NAME'; END $$;
\endif
\if :{?app_role}
\else
  DO $$ BEGIN RAISE EXCEPTION 'roles.sql needs -v migration_role=NAME -v app_role=NAME'; END $$;
\endif

-- Three distinct roles, or the ALTER ROLE … NOSUPERUSER below would demote the admin running this
-- (or give the application the migration role's ownership).
SELECT :'migration_role' = :'app_role'
    OR current_user IN (:'migration_role', :'app_role') AS fulfillment_roles_clash \gset
\if :fulfillment_roles_clash
  DO $$ BEGIN RAISE EXCEPTION 'roles.sql: migration_role, app_role and the admin running it must be three different roles'; END $$;
\endif

SELECT current_database() AS fulfillment_database \gset

-- The roles: created if missing, then given exactly these attributes whatever they had.
SELECT format('CREATE ROLE %I', :'migration_role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'migration_role') \gexec
SELECT format('CREATE ROLE %I', :'app_role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app_role') \gexec
ALTER ROLE :"migration_role" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
ALTER ROLE :"app_role" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
\if :{?migration_password}
ALTER ROLE :"migration_role" PASSWORD :'migration_password';
\endif
\if :{?app_password}
ALTER ROLE :"app_role" PASSWORD :'app_password';
\endif

-- The database and its schema. Nobody but migration_role (and the admin) creates objects in
-- `public`; PostgreSQL 15 and later already revoke that from PUBLIC, older clusters did not.
GRANT CONNECT ON DATABASE :"fulfillment_database" TO :"migration_role", :"app_role";
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE, CREATE ON SCHEMA public TO :"migration_role";
GRANT USAGE ON SCHEMA public TO :"app_role";

-- What exists already (a database the superuser migrated) changes owner. A table's own sequences
-- (serial, identity) and indexes follow their table; a view, a free-standing sequence and a
-- function change owner each. Objects of extensions stay with their extension.
SELECT format('ALTER %s %I.%I OWNER TO %I',
              CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                             WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE'
                             ELSE 'TABLE' END,
              n.nspname, c.relname, :'migration_role')
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'public'
   AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
   AND pg_get_userbyid(c.relowner) <> :'migration_role'
   AND NOT (c.relkind = 'S' AND EXISTS (
         SELECT FROM pg_depend d
          WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
            AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')))
   AND NOT EXISTS (SELECT FROM pg_depend d
                    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                      AND d.deptype = 'e')
 ORDER BY c.relkind <> 'r', c.relname \gexec
SELECT format('ALTER ROUTINE %s OWNER TO %I', p.oid::regprocedure, :'migration_role')
  FROM pg_proc p
  JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'public'
   AND p.prokind IN ('f', 'p')
   AND pg_get_userbyid(p.proowner) <> :'migration_role'
   AND NOT EXISTS (SELECT FROM pg_depend d
                    WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                      AND d.deptype = 'e') \gexec

-- The application's rights on what exists…
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"app_role";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO :"app_role";
GRANT EXECUTE ON ALL ROUTINES IN SCHEMA public TO :"app_role";

-- …and on whatever migration_role creates later.
ALTER DEFAULT PRIVILEGES FOR ROLE :"migration_role" IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app_role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"migration_role" IN SCHEMA public
  GRANT USAGE, SELECT ON SEQUENCES TO :"app_role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"migration_role" IN SCHEMA public
  GRANT EXECUTE ON FUNCTIONS TO :"app_role";

\echo roles.sql: :migration_role owns the schema objects of :fulfillment_database, :app_role reads and writes their rows
