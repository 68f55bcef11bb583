-- Dorado's schema for SQLite. The PostgreSQL twin in ../postgres must keep
-- the same tables, columns and meanings: one SQL code path serves both.
-- Instants are epoch milliseconds, JSON is TEXT, booleans are SMALLINT 0/1.
-- AUTOINCREMENT: ids are never reused, so `reindex` can hand old ids back.

CREATE TABLE organizations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    incident_link_window_seconds BIGINT,
    -- Bumped by every committed change to the organization's data or
    -- settings, so that every instance knows when its derived figures are stale.
    data_version BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

CREATE TABLE services (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id BIGINT NOT NULL REFERENCES organizations (id),
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id BIGINT NOT NULL REFERENCES organizations (id),
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    service_id BIGINT REFERENCES services (id),
    expires_at BIGINT,
    revoked_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX tokens_org ON tokens (org_id, id);

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id BIGINT NOT NULL REFERENCES organizations (id),
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    admin SMALLINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

-- The delivery log. service_id, token_id and user_id are not foreign keys:
-- a refused request is logged with whatever it named.
CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id BIGINT NOT NULL REFERENCES organizations (id),
    service_id BIGINT,
    token_id BIGINT,
    user_id BIGINT,
    dialect TEXT NOT NULL,
    route TEXT NOT NULL,
    idempotency_key TEXT,
    body_sha256 TEXT NOT NULL,
    body TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    accepted SMALLINT NOT NULL,
    status INTEGER NOT NULL,
    error TEXT,
    outcome TEXT
);
CREATE UNIQUE INDEX deliveries_idempotency ON deliveries (org_id, idempotency_key)
    WHERE accepted = 1 AND idempotency_key IS NOT NULL;
CREATE INDEX deliveries_org_time ON deliveries (org_id, received_at, id);
CREATE INDEX deliveries_service_time ON deliveries (service_id, received_at, id);
CREATE INDEX deliveries_org_id ON deliveries (org_id, id);

CREATE TABLE deployments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id BIGINT NOT NULL REFERENCES organizations (id),
    service_id BIGINT NOT NULL REFERENCES services (id),
    external_id TEXT,
    name TEXT,
    environment TEXT NOT NULL,
    result TEXT NOT NULL,
    kind TEXT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT,
    -- COALESCE(finished_at, started_at, created_at): what lists sort by.
    occurred_at BIGINT NOT NULL,
    rework SMALLINT NOT NULL,
    lead_time_seconds BIGINT,
    source TEXT NOT NULL,
    attributes TEXT NOT NULL,
    shipped TEXT,
    delivery_id BIGINT NOT NULL REFERENCES deliveries (id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (service_id, external_id)
);
CREATE INDEX deployments_org_time ON deployments (org_id, occurred_at, id);
CREATE INDEX deployments_service_time ON deployments (service_id, occurred_at, id);
CREATE INDEX deployments_service_env ON deployments (service_id, environment, finished_at);

CREATE TABLE deployment_commits (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    deployment_id BIGINT NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    ord INTEGER NOT NULL,
    repo TEXT NOT NULL,
    repo_key TEXT NOT NULL,
    sha TEXT NOT NULL
);
CREATE INDEX deployment_commits_deployment ON deployment_commits (deployment_id, ord);
CREATE INDEX deployment_commits_sha ON deployment_commits (repo_key, sha);

CREATE TABLE changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id BIGINT NOT NULL REFERENCES organizations (id),
    repo TEXT NOT NULL,
    repo_key TEXT NOT NULL,
    sha TEXT NOT NULL,
    committed_at BIGINT,
    authored_at BIGINT,
    -- COALESCE(committed_at, authored_at, created_at): what lists sort by.
    occurred_at BIGINT NOT NULL,
    author TEXT,
    message TEXT,
    delivery_id BIGINT NOT NULL REFERENCES deliveries (id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (org_id, repo_key, sha)
);
CREATE INDEX changes_org_time ON changes (org_id, occurred_at, id);

CREATE TABLE change_parents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id BIGINT NOT NULL REFERENCES organizations (id),
    repo_key TEXT NOT NULL,
    sha TEXT NOT NULL,
    parent_sha TEXT NOT NULL,
    ord INTEGER NOT NULL,
    delivery_id BIGINT NOT NULL REFERENCES deliveries (id),
    UNIQUE (org_id, repo_key, sha, parent_sha)
);
CREATE INDEX change_parents_sha ON change_parents (org_id, sha);

CREATE TABLE incidents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id BIGINT NOT NULL REFERENCES organizations (id),
    service_id BIGINT REFERENCES services (id),
    key TEXT NOT NULL,
    title TEXT,
    started_at BIGINT,
    resolved_at BIGINT,
    -- COALESCE(started_at, resolved_at, created_at): what lists sort by.
    occurred_at BIGINT NOT NULL,
    cause_kind TEXT,
    cause_value TEXT,
    fixed_by TEXT,
    is_incident SMALLINT NOT NULL,
    source TEXT NOT NULL,
    attributes TEXT NOT NULL,
    delivery_id BIGINT NOT NULL REFERENCES deliveries (id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- One incident per key and service; service-less incidents share the slot 0.
CREATE UNIQUE INDEX incidents_key ON incidents (org_id, COALESCE(service_id, 0), key);
CREATE INDEX incidents_org_time ON incidents (org_id, occurred_at, id);
CREATE INDEX incidents_service_time ON incidents (service_id, occurred_at, id);
CREATE INDEX incidents_org_key ON incidents (org_id, key);

-- DevLake's CI/CD pipelines and their tasks. A finished pipeline with
-- DEPLOYMENT tasks becomes a deployment (external id `pipeline:NAME`),
-- rebuilt whenever one of its tasks changes after the finish.
CREATE TABLE pipelines (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id BIGINT NOT NULL REFERENCES organizations (id),
    service_id BIGINT NOT NULL REFERENCES services (id),
    name TEXT NOT NULL,
    finished_at BIGINT,
    delivery_id BIGINT NOT NULL REFERENCES deliveries (id),
    updated_at BIGINT NOT NULL,
    UNIQUE (service_id, name)
);

CREATE TABLE pipeline_tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id BIGINT NOT NULL REFERENCES organizations (id),
    service_id BIGINT NOT NULL REFERENCES services (id),
    pipeline TEXT NOT NULL,
    name TEXT NOT NULL,
    task TEXT NOT NULL,
    delivery_id BIGINT NOT NULL REFERENCES deliveries (id),
    updated_at BIGINT NOT NULL,
    UNIQUE (service_id, pipeline, name)
);
