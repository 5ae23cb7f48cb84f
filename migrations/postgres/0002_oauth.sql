-- regstack PostgreSQL schema, revision 0002 (OAuth).
-- Reproduces regstack 0.9.3's Alembic revision 0002 (down revision: 0001) on PostgreSQL
-- (the DDL SQLAlchemy emits there). Run the whole file in one transaction.
-- APPEND-ONLY: never edit this file once released; add a new revision.

CREATE TABLE oauth_identities (
	id VARCHAR(36) NOT NULL, 
	user_id VARCHAR(36) NOT NULL, 
	provider VARCHAR(32) NOT NULL, 
	subject_id VARCHAR(255) NOT NULL, 
	email VARCHAR(320), 
	linked_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	last_used_at TIMESTAMP WITH TIME ZONE, 
	CONSTRAINT pk_oauth_identities PRIMARY KEY (id), 
	CONSTRAINT provider_subject_unique UNIQUE (provider, subject_id), 
	CONSTRAINT user_provider_unique UNIQUE (user_id, provider)
);

CREATE TABLE oauth_states (
	id VARCHAR(64) NOT NULL, 
	provider VARCHAR(32) NOT NULL, 
	code_verifier TEXT NOT NULL, 
	nonce VARCHAR(64) NOT NULL, 
	redirect_to TEXT NOT NULL, 
	mode VARCHAR(16) NOT NULL, 
	linking_user_id VARCHAR(36), 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	expires_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	result_token TEXT, 
	CONSTRAINT pk_oauth_states PRIMARY KEY (id), 
	CONSTRAINT ck_oauth_states_ck_oauth_states_mode_valid CHECK (mode IN ('signin', 'link'))
);
CREATE INDEX ix_oauth_states_expires_at ON oauth_states (expires_at);

ALTER TABLE users ALTER COLUMN hashed_password DROP NOT NULL;

UPDATE alembic_version SET version_num='0002' WHERE alembic_version.version_num = '0001';
