-- FerretDB v1 on PostgreSQL: make the view's repair read (store.LookupBatch:
-- one find of a batch's documents, or an exact-_id find per id) use an index
-- instead of reading the whole records table. Run it with psql on the database FerretDB uses; it is idempotent:
--
--   psql -h HOST -d DATABASE -v db=vacunometro -f postgres_index.sql
--
-- db is the MongoDB database name (MONGODB_DATABASE, default vacunometro),
-- which FerretDB keeps as a PostgreSQL schema. The settings apply to
-- sessions opened after them, the index needs the collection: run it once
-- before FerretDB first connects (on the empty database it only sets the
-- settings) and again once the records collection exists (after the first
-- start of the product), and again if the collection is dropped and made
-- anew. On a database FerretDB already uses, run it and restart FerretDB
-- (sessions opened before keep their old plans).
--
-- Why: FerretDB v1.24 sends {_id: "x"} as
--   SELECT _jsonb FROM "db"."records_<hash>" WHERE _jsonb->$1 @> $2
-- with $1 = '_id' and $2 = '"x"'. Its own _id index is a btree on
-- (_jsonb->'_id'), which cannot serve @>. A GIN index on the same expression
-- can, but only in a plan made with the parameters' values: a prepared
-- statement's generic plan sees _jsonb->$1, matches no index expression and
-- scans, and PostgreSQL keeps a generic plan once it looked no dearer than
-- the first five (which, on a small or unindexed table, are scans too).
-- The same holds for {b: "batch"}, which FerretDB sends as _jsonb->'b' @>
-- '"batch"': a second GIN index, on (_jsonb->'b'), lets the repair read a
-- batch's documents in one query (store.LookupBatch finds it by explain and
-- uses it), about a tenth of the CPU of one find per id (10,000 records
-- uncounted at 5M: ~1 s of lookups instead of ~6). Each insert adds one key
-- to each index. The batch index keeps GIN's pending list (fastupdate on):
-- a batch's 1,000 entries are merged into the index together, which writes
-- a quarter less WAL per record than one at a time (1.41 against 1.90 KB
-- per record stored, both indexes, 300,000 records) and costs its one read
-- per batch a scan of at most gin_pending_list_limit (4 MB). The _id index
-- has none: each of its reads is one id, and would scan it every time.
-- plan_cache_mode = force_custom_plan makes FerretDB's sessions plan every
-- statement with its values, so the GIN index is always matched.
-- jit = off and max_parallel_workers_per_gather = 0: until the table is
-- analyzed, PostgreSQL guesses 1% of a row count it derives from the table's
-- size for any @>, so at a million documents each one-row lookup was planned
-- as a parallel bitmap scan with JIT: 36-67 ms of worker start and
-- compilation for 0.05 ms of work (the catch-up of 10,000 records took 45 s
-- instead of 8). FerretDB's statements here are one-table reads and writes
-- that gain nothing from either. The script also analyzes the table (run it
-- again, or leave it to autovacuum, as the table grows).
-- fastupdate = off: each insert adds its one key to the tree, so a lookup
-- never reads a pending list of recent inserts (up to 4 MB by default),
-- which is what the repair would meet right after a crash.
\set ON_ERROR_STOP on
\if :{?db}
\else
\set db vacunometro
\endif
SELECT format('ALTER DATABASE %I SET plan_cache_mode = force_custom_plan', current_database())
\gexec
SELECT format('ALTER DATABASE %I SET jit = off', current_database())
\gexec
SELECT format('ALTER DATABASE %I SET max_parallel_workers_per_gather = 0', current_database())
\gexec
SELECT to_regclass(format('%I._ferretdb_database_metadata', :'db')) IS NOT NULL AS have_db
\gset
\if :have_db
SELECT format('CREATE INDEX CONCURRENTLY IF NOT EXISTS %I ON %I.%I USING gin ((_jsonb->''_id'') jsonb_path_ops) WITH (fastupdate = off)',
              (_jsonb->>'table') || '_vac_id_gin', :'db', _jsonb->>'table')
  FROM :"db"._ferretdb_database_metadata
 WHERE _jsonb->'_id' = '"records"'::jsonb
\gexec
SELECT format('CREATE INDEX CONCURRENTLY IF NOT EXISTS %I ON %I.%I USING gin ((_jsonb->''b'') jsonb_path_ops) WITH (fastupdate = on)',
              (_jsonb->>'table') || '_vac_batch_gin', :'db', _jsonb->>'table')
  FROM :"db"._ferretdb_database_metadata
 WHERE _jsonb->'_id' = '"records"'::jsonb
\gexec
SELECT format('ANALYZE %I.%I', :'db', _jsonb->>'table')
  FROM :"db"._ferretdb_database_metadata
 WHERE _jsonb->'_id' = '"records"'::jsonb
\gexec
\else
\echo FerretDB has no database :db here yet: run this again once the records collection exists.
\endif
