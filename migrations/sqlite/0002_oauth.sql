-- regstack SQLite schema, revision 0002 (OAuth).
-- Reproduces regstack 0.9.3's Alembic revision 0002 (down revision: 0001) statement for
-- statement, so that the resulting sqlite_master text is byte-identical to a database that
-- 0.9.3 migrated. APPEND-ONLY: never edit this file once released; add a new revision.
-- users.hashed_password becomes nullable: SQLite cannot ALTER a column, so the table is
-- rebuilt the way Alembic's batch mode does it (create _alembic_tmp_users, copy, drop,
-- rename; the rename makes SQLite store the table as CREATE TABLE "users").

CREATE TABLE oauth_identities (
	id VARCHAR(36) NOT NULL, 
	user_id VARCHAR(36) NOT NULL, 
	provider VARCHAR(32) NOT NULL, 
	subject_id VARCHAR(255) NOT NULL, 
	email VARCHAR(320), 
	linked_at DATETIME NOT NULL, 
	last_used_at DATETIME, 
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
	created_at DATETIME NOT NULL, 
	expires_at DATETIME NOT NULL, 
	result_token TEXT, 
	CONSTRAINT pk_oauth_states PRIMARY KEY (id), 
	CONSTRAINT ck_oauth_states_ck_oauth_states_mode_valid CHECK (mode IN ('signin', 'link'))
);
CREATE INDEX ix_oauth_states_expires_at ON oauth_states (expires_at);

CREATE TABLE _alembic_tmp_users (
	id VARCHAR(36) NOT NULL, 
	email VARCHAR(320) NOT NULL, 
	hashed_password TEXT, 
	is_active BOOLEAN NOT NULL, 
	is_verified BOOLEAN NOT NULL, 
	is_superuser BOOLEAN NOT NULL, 
	full_name VARCHAR(200), 
	phone_number VARCHAR(20), 
	is_mfa_enabled BOOLEAN NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	last_login DATETIME, 
	tokens_invalidated_after DATETIME, 
	CONSTRAINT pk_users PRIMARY KEY (id), 
	CONSTRAINT email_unique UNIQUE (email)
);

INSERT INTO _alembic_tmp_users (id, email, hashed_password, is_active, is_verified, is_superuser, full_name, phone_number, is_mfa_enabled, created_at, updated_at, last_login, tokens_invalidated_after) SELECT id, email, hashed_password, is_active, is_verified, is_superuser, full_name, phone_number, is_mfa_enabled, created_at, updated_at, last_login, tokens_invalidated_after FROM users;

DROP TABLE users;

ALTER TABLE _alembic_tmp_users RENAME TO users;

UPDATE alembic_version SET version_num='0002' WHERE alembic_version.version_num = '0001';
