-- regstack PostgreSQL schema, revision 0003 (oauth_states.result_was_new).
-- Reproduces regstack 0.9.3's Alembic revision 0003 (down revision: 0002) on PostgreSQL
-- (the DDL SQLAlchemy emits there). Run the whole file in one transaction.
-- APPEND-ONLY: never edit this file once released; add a new revision.

ALTER TABLE oauth_states ADD COLUMN result_was_new BOOLEAN DEFAULT false NOT NULL;

UPDATE alembic_version SET version_num='0003' WHERE alembic_version.version_num = '0002';
