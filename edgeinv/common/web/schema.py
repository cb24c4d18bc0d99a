"""The result store's SQLite schema, one entry per version (applied in order by ``Store._migrate``)."""

SCHEMA_VERSION = 4

_SCHEMA = [
    # version 1
    """
    CREATE TABLE entities (
        id      INTEGER PRIMARY KEY AUTOINCREMENT,
        app     TEXT NOT NULL,
        kind    TEXT NOT NULL,
        name    TEXT NOT NULL,
        data    TEXT NOT NULL DEFAULT '{}',
        created TEXT NOT NULL,
        updated TEXT NOT NULL
    );
    CREATE INDEX entities_app_kind ON entities (app, kind, id);
    CREATE TABLE results (
        id        INTEGER PRIMARY KEY AUTOINCREMENT,
        app       TEXT NOT NULL,
        entity_id INTEGER REFERENCES entities (id) ON DELETE CASCADE,
        summary   TEXT NOT NULL DEFAULT '{}',
        created   TEXT NOT NULL
    );
    CREATE INDEX results_app_entity ON results (app, entity_id, created, id);
    CREATE TABLE blobs (
        result_id INTEGER NOT NULL REFERENCES results (id) ON DELETE CASCADE,
        name      TEXT NOT NULL,
        mime      TEXT NOT NULL,
        data      BLOB NOT NULL,
        PRIMARY KEY (result_id, name)
    );
    """,
    # version 2: idempotency keys, blob sizes (retention), server-side sessions
    """
    ALTER TABLE results ADD COLUMN idem_key TEXT;
    CREATE UNIQUE INDEX results_idem_key ON results (idem_key) WHERE idem_key IS NOT NULL;
    ALTER TABLE blobs ADD COLUMN size INTEGER NOT NULL DEFAULT 0;
    UPDATE blobs SET size = length(data);
    CREATE TABLE idempotency (
        key     TEXT PRIMARY KEY,
        status  INTEGER NOT NULL,
        mime    TEXT NOT NULL,
        headers TEXT NOT NULL DEFAULT '{}',
        body    BLOB NOT NULL,
        created REAL NOT NULL
    );
    CREATE TABLE web_sessions (
        sid_hash TEXT PRIMARY KEY,
        pwv      TEXT NOT NULL,
        created  REAL NOT NULL,
        expires  REAL NOT NULL
    );
    """,
    # version 3: entities created by a request with an Idempotency-Key are stored once too
    """
    ALTER TABLE entities ADD COLUMN idem_key TEXT;
    CREATE UNIQUE INDEX entities_idem_key ON entities (idem_key) WHERE idem_key IS NOT NULL;
    """,
    # version 4: blob sizes summed from an index (the size column sits after the data in each row)
    """
    CREATE INDEX blobs_sizes ON blobs (result_id, size);
    """,
]
