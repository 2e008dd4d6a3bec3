-- own.sql: hand what the connected superuser owns in the current database
-- to the role :owner, one object at a time. A psql script, run with
-- ON_ERROR_STOP by the password step (components/postgres) and by
-- restore.sh, always as a superuser.
--
-- What moves: every schema, table, view, materialized view, foreign table,
-- sequence (one that a column owns moves with its table), function,
-- procedure, aggregate, type, domain, collation, conversion, operator,
-- operator class and family, text search configuration and dictionary,
-- statistics object and large object that current_user owns, made after
-- initdb (oid 16384 and up: not the system's), and not part of an
-- extension; and the public schema, when current_user owns it (Postgres 14
-- and older). Extensions, event triggers, publications, foreign-data
-- wrappers and servers stay with the superuser: only a superuser makes
-- them, and the objects an extension installs stay with it.
--
-- Not REASSIGN OWNED: Postgres refuses it for the bootstrap superuser (the
-- role initdb made, the image's POSTGRES_USER), whose objects it does not
-- track. Each ALTER is its own transaction (\gexec, psql's autocommit), so
-- that the run holds one table's lock at a time and cannot deadlock with
-- the application's transactions. Running it again changes nothing.
WITH objects (classid, objid) AS (
    SELECT 'pg_namespace'::regclass, oid FROM pg_namespace
     WHERE nspowner = current_user::regrole AND (oid >= 16384 OR nspname = 'public')
    UNION ALL
    SELECT 'pg_class'::regclass, c.oid FROM pg_class c
     WHERE c.relowner = current_user::regrole AND c.oid >= 16384 AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
       AND NOT (c.relkind = 'S' AND EXISTS (
           SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
              AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')))
    UNION ALL
    SELECT 'pg_proc'::regclass, oid FROM pg_proc WHERE proowner = current_user::regrole AND oid >= 16384
    UNION ALL
    SELECT 'pg_type'::regclass, t.oid FROM pg_type t
     WHERE t.typowner = current_user::regrole AND t.oid >= 16384
       AND (t.typtype IN ('e', 'd', 'r')
            OR (t.typtype = 'c' AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c'))
    UNION ALL
    SELECT 'pg_collation'::regclass, oid FROM pg_collation WHERE collowner = current_user::regrole AND oid >= 16384
    UNION ALL
    SELECT 'pg_conversion'::regclass, oid FROM pg_conversion WHERE conowner = current_user::regrole AND oid >= 16384
    UNION ALL
    SELECT 'pg_operator'::regclass, oid FROM pg_operator WHERE oprowner = current_user::regrole AND oid >= 16384
    UNION ALL
    SELECT 'pg_opclass'::regclass, oid FROM pg_opclass WHERE opcowner = current_user::regrole AND oid >= 16384
    UNION ALL
    SELECT 'pg_opfamily'::regclass, oid FROM pg_opfamily WHERE opfowner = current_user::regrole AND oid >= 16384
    UNION ALL
    SELECT 'pg_ts_config'::regclass, oid FROM pg_ts_config WHERE cfgowner = current_user::regrole AND oid >= 16384
    UNION ALL
    SELECT 'pg_ts_dict'::regclass, oid FROM pg_ts_dict WHERE dictowner = current_user::regrole AND oid >= 16384
    UNION ALL
    SELECT 'pg_statistic_ext'::regclass, oid FROM pg_statistic_ext WHERE stxowner = current_user::regrole AND oid >= 16384
    UNION ALL
    SELECT 'pg_largeobject'::regclass, oid FROM pg_largeobject_metadata WHERE lomowner = current_user::regrole
)
SELECT format('ALTER %s %s OWNER TO %I',
              CASE i.type WHEN 'statistics object' THEN 'STATISTICS' ELSE upper(i.type) END,
              i.identity, :'owner')
  FROM objects o, pg_identify_object(o.classid, o.objid, 0) i
 WHERE NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = o.classid AND d.objid = o.objid AND d.deptype = 'e')
 ORDER BY o.classid = 'pg_namespace'::regclass DESC, o.classid, o.objid
\gexec
