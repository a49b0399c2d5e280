"""Numbered schema migrations of the SQLite store.

Each entry runs once, in order, inside one transaction, and bumps
``PRAGMA user_version``. Never edit a released migration; add the next one.
Migrations run with foreign keys off (SQLite's procedure for rebuilding a
table) and are checked with ``PRAGMA foreign_key_check`` before they commit.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: articles with their vectors, stories, assignments, story events, and the
    # index change log that lets a snapshot catch up with the store.
    """
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE articles (
        key          INTEGER PRIMARY KEY AUTOINCREMENT,
        id           TEXT NOT NULL UNIQUE,
        title        TEXT NOT NULL,
        text         TEXT NOT NULL,
        source       TEXT NOT NULL,
        url          TEXT,
        published_at REAL,
        lang         TEXT,
        content_hash TEXT NOT NULL,
        embed_hash   TEXT NOT NULL,
        vector       BLOB NOT NULL,
        duplicate_of TEXT,
        ingested_at  REAL NOT NULL
    );
    CREATE INDEX articles_published ON articles (published_at);
    CREATE INDEX articles_url ON articles (url);
    CREATE TABLE stories (
        id             INTEGER PRIMARY KEY AUTOINCREMENT,
        status         TEXT NOT NULL DEFAULT 'active'
                       CHECK (status IN ('active', 'dormant', 'archived', 'merged')),
        first_seen     REAL,
        last_updated   REAL,
        activity       REAL NOT NULL,
        article_count  INTEGER NOT NULL,
        source_count   INTEGER NOT NULL,
        centroid_sum   BLOB NOT NULL,
        label          TEXT NOT NULL DEFAULT '',
        representative INTEGER,
        merged_into    INTEGER,
        dirty          INTEGER NOT NULL DEFAULT 1
    );
    CREATE INDEX stories_activity ON stories (status, activity DESC, id DESC);
    CREATE TABLE assignments (
        article_key INTEGER PRIMARY KEY REFERENCES articles (key) ON DELETE CASCADE,
        story_id    INTEGER NOT NULL REFERENCES stories (id),
        score       REAL,
        new_story   INTEGER NOT NULL
    );
    CREATE INDEX assignments_story ON assignments (story_id);
    CREATE TABLE story_events (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        story_id   INTEGER NOT NULL,
        kind       TEXT NOT NULL,
        at         REAL,
        article_id TEXT,
        other_id   INTEGER,
        detail     TEXT
    );
    CREATE INDEX story_events_story ON story_events (story_id, seq);
    CREATE TABLE index_log (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        article_key INTEGER NOT NULL,
        op          TEXT NOT NULL CHECK (op IN ('add', 'remove'))
    );
    """,
    # 2: document frequencies of lexical terms, so that TF-IDF weights survive a
    # restart exactly (cluster/text/lexical.py).
    """
    CREATE TABLE term_df (
        term TEXT PRIMARY KEY,
        df   INTEGER NOT NULL
    ) WITHOUT ROWID;
    """,
    # 3: near-duplicate fingerprints, story presentation (summary, hotness, top
    # sources) and the indexes that read duplicates and copies quickly; existing
    # stories are marked for a presentation refresh at the next start.
    """
    ALTER TABLE articles ADD COLUMN minhash BLOB;
    CREATE INDEX articles_embed_hash ON articles (embed_hash);
    CREATE INDEX articles_duplicate_of ON articles (duplicate_of);
    ALTER TABLE stories ADD COLUMN summary TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE stories ADD COLUMN hotness REAL NOT NULL DEFAULT 0;
    ALTER TABLE stories ADD COLUMN presented_count INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE stories ADD COLUMN top_sources TEXT NOT NULL DEFAULT '[]';
    CREATE INDEX stories_hotness ON stories (status, hotness DESC, id DESC);
    CREATE INDEX stories_sources ON stories (status, source_count);
    UPDATE stories SET dirty = 1 WHERE status != 'merged';
    """,
    # 4: listing every story (status=all) in hotness or activity order walks an
    # index instead of sorting all stories.
    """
    CREATE INDEX stories_hotness_all ON stories (hotness DESC, id DESC);
    CREATE INDEX stories_activity_all ON stories (activity DESC, id DESC);
    """,
    # 5: finding the stories waiting for presentation must not scan every story.
    """
    CREATE INDEX stories_dirty ON stories (id) WHERE dirty = 1;
    """,
    # 6: stories a presentation worker process is presenting (claimed, no longer
    # dirty); a crash leaves them here and the next start marks them dirty again.
    """
    CREATE TABLE presenting (story_id INTEGER PRIMARY KEY);
    """,
    # 7: vectors and MinHash sketches move to their own table. They were ~1.8 KB
    # of every article row (of ~2 KB for short texts), so every read of an
    # article's title, source or date dragged them through the page cache: a
    # million-article store did not fit in memory where its article data does.
    """
    CREATE TABLE article_vectors (
        key     INTEGER PRIMARY KEY REFERENCES articles (key) ON DELETE CASCADE,
        vector  BLOB NOT NULL,
        minhash BLOB
    );
    INSERT INTO article_vectors (key, vector, minhash) SELECT key, vector, minhash FROM articles;
    ALTER TABLE articles DROP COLUMN vector;
    ALTER TABLE articles DROP COLUMN minhash;
    """,
    # 8: centroid sums as float32. A float64 sum was 3 KB of a ~3.4 KB story row,
    # one row per 4 KB page, so start-up read a page per live story (1.27 GB of
    # stories at a million articles). The table is rebuilt, not updated in place:
    # shrunk rows would stay one to a page. ``narrowed_sum`` is a function the
    # store registers (cluster/store/records.py); the sequence keeps deleted ids unused.
    """
    CREATE TABLE stories_compact (
        id             INTEGER PRIMARY KEY AUTOINCREMENT,
        status         TEXT NOT NULL DEFAULT 'active'
                       CHECK (status IN ('active', 'dormant', 'archived', 'merged')),
        first_seen     REAL,
        last_updated   REAL,
        activity       REAL NOT NULL,
        article_count  INTEGER NOT NULL,
        source_count   INTEGER NOT NULL,
        centroid_sum   BLOB NOT NULL,
        label          TEXT NOT NULL DEFAULT '',
        representative INTEGER,
        merged_into    INTEGER,
        dirty          INTEGER NOT NULL DEFAULT 1,
        summary        TEXT NOT NULL DEFAULT '[]',
        hotness        REAL NOT NULL DEFAULT 0,
        presented_count INTEGER NOT NULL DEFAULT 0,
        top_sources    TEXT NOT NULL DEFAULT '[]'
    );
    INSERT INTO stories_compact
        SELECT id, status, first_seen, last_updated, activity, article_count, source_count,
               narrowed_sum(centroid_sum), label, representative, merged_into, dirty,
               summary, hotness, presented_count, top_sources
        FROM stories ORDER BY id;
    DELETE FROM sqlite_sequence WHERE name = 'stories_compact';
    INSERT INTO sqlite_sequence (name, seq)
        SELECT 'stories_compact', seq FROM sqlite_sequence WHERE name = 'stories';
    DROP TABLE stories;
    ALTER TABLE stories_compact RENAME TO stories;
    CREATE INDEX stories_activity ON stories (status, activity DESC, id DESC);
    CREATE INDEX stories_hotness ON stories (status, hotness DESC, id DESC);
    CREATE INDEX stories_sources ON stories (status, source_count);
    CREATE INDEX stories_hotness_all ON stories (hotness DESC, id DESC);
    CREATE INDEX stories_activity_all ON stories (activity DESC, id DESC);
    CREATE INDEX stories_dirty ON stories (id) WHERE dirty = 1;
    """,
    # 9: the stories split apart, read at every start, without scanning every
    # story event (1.46 million at a million articles: 0.9 s from a cold disk).
    """
    CREATE INDEX story_events_splits ON story_events (story_id) WHERE kind = 'split';
    """,
    # 10: storylines, the developments that stories belong to. A story names its
    # storyline; each storyline row holds its members' totals, kept by triggers
    # in the same statement as any change of a member, so a listing never sums
    # stories and can never disagree with them.
    """
    CREATE TABLE storylines (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        status        TEXT NOT NULL DEFAULT 'active'
                      CHECK (status IN ('active', 'dormant', 'archived', 'merged')),
        merged_into   INTEGER,
        created_at    REAL,
        story_count   INTEGER NOT NULL DEFAULT 0,
        article_count INTEGER NOT NULL DEFAULT 0,
        first_seen    REAL,
        last_updated  REAL,
        activity      REAL NOT NULL DEFAULT 0,
        hotness       REAL NOT NULL DEFAULT 0
    );
    CREATE INDEX storylines_activity ON storylines (status, story_count, activity DESC, id DESC);
    CREATE INDEX storylines_hotness ON storylines (status, story_count, hotness DESC, id DESC);
    ALTER TABLE stories ADD COLUMN storyline_id INTEGER;
    CREATE INDEX stories_storyline ON stories (storyline_id, first_seen)
        WHERE storyline_id IS NOT NULL;
    CREATE TRIGGER storyline_member_changed
        AFTER UPDATE OF storyline_id, status, article_count, first_seen, last_updated,
                        activity, hotness ON stories
        WHEN OLD.storyline_id IS NOT NULL OR NEW.storyline_id IS NOT NULL
    BEGIN
        UPDATE storylines SET
            (story_count, article_count, first_seen, last_updated, activity, hotness,
             status) = (
                SELECT COUNT(*), COALESCE(SUM(s.article_count), 0), MIN(s.first_seen),
                       MAX(s.last_updated), COALESCE(MAX(s.activity), 0),
                       COALESCE(MAX(s.hotness), 0),
                       CASE WHEN SUM(s.status = 'active') > 0 THEN 'active'
                            WHEN SUM(s.status = 'dormant') > 0 THEN 'dormant'
                            ELSE 'archived' END
                FROM stories s
                WHERE s.storyline_id = storylines.id AND s.status != 'merged')
        WHERE id IN (OLD.storyline_id, NEW.storyline_id) AND status != 'merged';
    END;
    CREATE TRIGGER storyline_member_deleted
        AFTER DELETE ON stories WHEN OLD.storyline_id IS NOT NULL
    BEGIN
        UPDATE storylines SET
            (story_count, article_count, first_seen, last_updated, activity, hotness,
             status) = (
                SELECT COUNT(*), COALESCE(SUM(s.article_count), 0), MIN(s.first_seen),
                       MAX(s.last_updated), COALESCE(MAX(s.activity), 0),
                       COALESCE(MAX(s.hotness), 0),
                       CASE WHEN SUM(s.status = 'active') > 0 THEN 'active'
                            WHEN SUM(s.status = 'dormant') > 0 THEN 'dormant'
                            ELSE 'archived' END
                FROM stories s
                WHERE s.storyline_id = storylines.id AND s.status != 'merged')
        WHERE id = OLD.storyline_id AND status != 'merged';
    END;
    """,
    # 11: which partition of a partitioned writer owns each story it made
    # (cluster/scaleout/partitions.py); a single writer leaves it empty.
    """
    CREATE TABLE story_partitions (
        story_id  INTEGER PRIMARY KEY,
        partition INTEGER NOT NULL
    );
    CREATE INDEX story_partitions_by_partition ON story_partitions (partition);
    """,
    # 12: the store's identity, which index snapshots record, so that a
    # snapshot of another store in the same index folder is never loaded.
    """
    INSERT OR IGNORE INTO meta (key, value) VALUES ('store_id', lower(hex(randomblob(16))));
    """,
)
