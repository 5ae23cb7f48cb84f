-- regstack PostgreSQL schema, revision 0001 (initial schema).
-- Reproduces regstack 0.9.3's Alembic revision 0001 (down revision: none) on PostgreSQL
-- (the DDL SQLAlchemy emits there). Run the whole file in one transaction.
-- APPEND-ONLY: never edit this file once released; add a new revision.
-- The alembic_version table is created here (Alembic creates it before the first revision).

CREATE TABLE IF NOT EXISTS alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);

CREATE TABLE users (
	id VARCHAR(36) NOT NULL, 
	email VARCHAR(320) NOT NULL, 
	hashed_password TEXT NOT NULL, 
	is_active BOOLEAN NOT NULL, 
	is_verified BOOLEAN NOT NULL, 
	is_superuser BOOLEAN NOT NULL, 
	full_name VARCHAR(200), 
	phone_number VARCHAR(20), 
	is_mfa_enabled BOOLEAN NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	updated_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	last_login TIMESTAMP WITH TIME ZONE, 
	tokens_invalidated_after TIMESTAMP WITH TIME ZONE, 
	CONSTRAINT pk_users PRIMARY KEY (id), 
	CONSTRAINT email_unique UNIQUE (email)
);

CREATE TABLE pending_registrations (
	id VARCHAR(36) NOT NULL, 
	email VARCHAR(320) NOT NULL, 
	hashed_password TEXT NOT NULL, 
	full_name VARCHAR(200), 
	token_hash VARCHAR(64) NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	expires_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	CONSTRAINT pk_pending_registrations PRIMARY KEY (id), 
	CONSTRAINT pending_email_unique UNIQUE (email), 
	CONSTRAINT pending_token_unique UNIQUE (token_hash)
);
CREATE INDEX ix_pending_expires_at ON pending_registrations (expires_at);

CREATE TABLE token_blacklist (
	id SERIAL NOT NULL, 
	jti VARCHAR(64) NOT NULL, 
	exp TIMESTAMP WITH TIME ZONE NOT NULL, 
	CONSTRAINT pk_token_blacklist PRIMARY KEY (id), 
	CONSTRAINT jti_unique UNIQUE (jti)
);
CREATE INDEX ix_blacklist_exp ON token_blacklist (exp);

CREATE TABLE login_attempts (
	id SERIAL NOT NULL, 
	email VARCHAR(320) NOT NULL, 
	"when" TIMESTAMP WITH TIME ZONE NOT NULL, 
	ip VARCHAR(64), 
	CONSTRAINT pk_login_attempts PRIMARY KEY (id)
);
CREATE INDEX ix_login_attempts_email_when ON login_attempts (email, "when");

CREATE TABLE mfa_codes (
	id SERIAL NOT NULL, 
	user_id VARCHAR(36) NOT NULL, 
	kind VARCHAR(32) NOT NULL, 
	code_hash VARCHAR(64) NOT NULL, 
	expires_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	attempts INTEGER NOT NULL, 
	max_attempts INTEGER NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	CONSTRAINT pk_mfa_codes PRIMARY KEY (id), 
	CONSTRAINT user_kind_unique UNIQUE (user_id, kind), 
	CONSTRAINT ck_mfa_codes_ck_mfa_codes_attempts_nonneg CHECK (attempts >= 0)
);
CREATE INDEX ix_mfa_codes_expires_at ON mfa_codes (expires_at);

INSERT INTO alembic_version (version_num) VALUES ('0001');
