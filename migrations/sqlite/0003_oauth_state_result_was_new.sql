-- regstack SQLite schema, revision 0003 (oauth_states.result_was_new).
-- Reproduces regstack 0.9.3's Alembic revision 0003 (down revision: 0002) statement for
-- statement, so that the resulting sqlite_master text is byte-identical to a database that
-- 0.9.3 migrated. APPEND-ONLY: never edit this file once released; add a new revision.
-- Adds oauth_states.result_was_new BOOLEAN NOT NULL DEFAULT 0 through Alembic's batch table
-- rebuild (create _alembic_tmp_oauth_states, copy, drop, rename, re-create the index).

CREATE TABLE _alembic_tmp_oauth_states (
	id VARCHAR(64) NOT NULL, 
	provider VARCHAR(32) NOT NULL, 
	code_verifier TEXT NOT NULL, 
	nonce VARCHAR(64) NOT NULL, 
	redirect_to TEXT NOT NULL, 
	mode VARCHAR(16) NOT NULL, 
	linking_user_id VARCHAR(36), 
	created_at DATETIME NOT NULL, 
	expires_at DATETIME NOT NULL, 
	result_token TEXT, 
	result_was_new BOOLEAN DEFAULT 0 NOT NULL, 
	CONSTRAINT pk_oauth_states PRIMARY KEY (id), 
	CONSTRAINT ck_oauth_states_ck_oauth_states_mode_valid CHECK (mode IN ('signin', 'link'))
);

INSERT INTO _alembic_tmp_oauth_states (id, provider, code_verifier, nonce, redirect_to, mode, linking_user_id, created_at, expires_at, result_token) SELECT id, provider, code_verifier, nonce, redirect_to, mode, linking_user_id, created_at, expires_at, result_token FROM oauth_states;

DROP TABLE oauth_states;

ALTER TABLE _alembic_tmp_oauth_states RENAME TO oauth_states;

CREATE INDEX ix_oauth_states_expires_at ON oauth_states (expires_at);

UPDATE alembic_version SET version_num='0003' WHERE alembic_version.version_num = '0002';
