-- Nothing looks a commit up by its sha alone: a change's parents are read by
-- (org_id, repo_key, sha), the unique key of change_parents, and a
-- deployment's commits by the deployment. These two indexes only cost every
-- write, and a bulk import the time to build them again (issue 3).
DROP INDEX IF EXISTS change_parents_sha;
DROP INDEX IF EXISTS deployment_commits_sha;
