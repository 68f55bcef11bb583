-- A source is one tool that sends its own webhooks (api.md, "Native
-- sources"). Its secret is kept as given: GitHub and PagerDuty sign with it
-- (HMAC), so it must be at hand to check a delivery, unlike a token, which
-- is only compared and so is kept as a hash. During a rotation the old
-- secret is accepted until previous_until. deploy_workflows is a JSON array
-- of names. A deleted source keeps its row (its deliveries name it).
CREATE TABLE sources (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id BIGINT NOT NULL REFERENCES organizations (id),
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    secret TEXT,
    previous_secret TEXT,
    previous_until BIGINT,
    deploy_workflows TEXT NOT NULL,
    deleted_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX sources_name ON sources (org_id, name) WHERE deleted_at IS NULL;

-- Names by which sources know a service: a repository, a PagerDuty service
-- id or name, a CDEvents subject id. alias_key is the normalized form
-- (dorado_core::source::alias_key), unique in the organization.
CREATE TABLE service_aliases (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id BIGINT NOT NULL REFERENCES organizations (id),
    service_id BIGINT NOT NULL REFERENCES services (id),
    alias TEXT NOT NULL,
    alias_key TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (org_id, alias_key)
);
CREATE INDEX service_aliases_service ON service_aliases (service_id);

-- Which source a delivery came through; why it stored nothing when it was
-- accepted and ignored; and what it named that maps to no service (a
-- repository key, or a vendor service id), for the source's set-up page.
ALTER TABLE deliveries ADD COLUMN source_id BIGINT;
ALTER TABLE deliveries ADD COLUMN ignored TEXT;
ALTER TABLE deliveries ADD COLUMN unmapped TEXT;
CREATE INDEX deliveries_source ON deliveries (source_id, accepted, received_at);

-- When the state a vendor reported was reached: an older state arriving
-- late leaves a newer one as it is (GitHub deployment statuses, GitLab
-- deployment hooks).
ALTER TABLE deployments ADD COLUMN state_at BIGINT;

-- A vendor incident's lifecycle: its latest resolution and its latest
-- reopening; resolved_at is the latest resolution unless a reopening came
-- after it (then NULL: open).
ALTER TABLE incidents ADD COLUMN last_resolved_at BIGINT;
ALTER TABLE incidents ADD COLUMN reopened_at BIGINT;

-- The pull or merge request a commit merged: its lead time runs from the
-- request (semantics.md), so that squash and rebase merges keep it.
ALTER TABLE changes ADD COLUMN request_opened_at BIGINT;
ALTER TABLE changes ADD COLUMN request_head TEXT;
ALTER TABLE changes ADD COLUMN request_base TEXT;
ALTER TABLE changes ADD COLUMN request_commits INTEGER;

