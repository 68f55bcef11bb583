-- One number that every change to what a store caches in memory (tokens,
-- organizations, services and their aliases) bumps in its own transaction.
-- Each process reads it every 100 ms and forgets its cache when it moved,
-- so that a token revoked by the CLI or by another instance is refused
-- here too within that time. The key keeps it to one row.
CREATE TABLE cache_epoch (
    id SMALLINT NOT NULL PRIMARY KEY CHECK (id = 1),
    epoch BIGINT NOT NULL
);
INSERT INTO cache_epoch (id, epoch) VALUES (1, 0);
