-- What each write touched, so that an instance holding derived figures
-- reloads and re-derives only those parts of an organization's history
-- (decisions.md "Incremental figures"). A scope is `service:ID` (that
-- service's deployments and incidents), `repo:KEY` (that repository's
-- commit graph), `org` (incidents without a service) or `all` (a reindex or
-- a settings change). `version` is the organizations.data_version of the
-- write that last touched the scope.
CREATE TABLE fact_versions (
    org_id BIGINT NOT NULL REFERENCES organizations (id),
    scope TEXT NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (org_id, scope)
);
CREATE INDEX fact_versions_version ON fact_versions (org_id, version);
