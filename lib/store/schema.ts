// SPDX-License-Identifier: Apache-2.0
/** SQLite schema of the message store and the connection settings both connections use. */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS messages (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,   -- allocated by the process that owns the store
  direction    TEXT NOT NULL,                       -- 'in' | 'out'
  kind         TEXT,                                -- request | result | image | other | ack
  type         TEXT, control_id TEXT, sender TEXT, barcode TEXT, patient_id TEXT,
  peer         TEXT,                                -- remote address:port
  status       TEXT NOT NULL,
  destination  TEXT,                                -- last spool destination
  idem_key     TEXT,
  raw          BLOB,                                -- bytes as received (or as sent)
  text         TEXT,                                -- decoded HL7 text
  meta         TEXT,                                -- JSON: msg properties restored on delivery
  size         INTEGER NOT NULL DEFAULT 0,
  received_at  INTEGER NOT NULL,                    -- ms since epoch
  acked_at     INTEGER, delivered_at INTEGER,
  updated_at   INTEGER NOT NULL,
  attempts     INTEGER NOT NULL DEFAULT 0,
  last_error   TEXT,                                -- JSON {code, message}
  related_id   INTEGER                              -- ACK -> message, duplicate -> original
);
CREATE INDEX IF NOT EXISTS messages_received ON messages(received_at);
CREATE INDEX IF NOT EXISTS messages_status ON messages(status, received_at);
CREATE INDEX IF NOT EXISTS messages_barcode ON messages(barcode);
CREATE INDEX IF NOT EXISTS messages_patient ON messages(patient_id);
CREATE INDEX IF NOT EXISTS messages_control ON messages(control_id);

CREATE TABLE IF NOT EXISTS history (
  id          INTEGER PRIMARY KEY,
  message_id  INTEGER NOT NULL,
  at          INTEGER NOT NULL,
  status      TEXT NOT NULL,
  actor       TEXT,
  destination TEXT,
  attempt     INTEGER,
  detail      TEXT
);
CREATE INDEX IF NOT EXISTS history_message ON history(message_id, id);
CREATE INDEX IF NOT EXISTS history_errors ON history(id) WHERE status IN ('failed', 'dead');

CREATE TABLE IF NOT EXISTS spool (
  seq          INTEGER PRIMARY KEY AUTOINCREMENT,   -- FIFO order per destination
  message_id   INTEGER NOT NULL,
  destination  TEXT NOT NULL,
  state        TEXT NOT NULL,                       -- 'queued' | 'dead' (delivered rows are removed)
  attempts     INTEGER NOT NULL DEFAULT 0,
  failures     INTEGER NOT NULL DEFAULT 0,          -- attempts that blamed the message
  next_at      INTEGER NOT NULL DEFAULT 0,
  enqueued_at  INTEGER NOT NULL,
  last_error   TEXT,
  idem_key     TEXT
);
CREATE INDEX IF NOT EXISTS spool_queue ON spool(destination, state, seq);
CREATE INDEX IF NOT EXISTS spool_message ON spool(message_id);

CREATE TABLE IF NOT EXISTS idem_keys (
  destination TEXT NOT NULL,
  key         TEXT NOT NULL,
  message_id  INTEGER NOT NULL,
  state       TEXT NOT NULL,                        -- 'queued' | 'delivered' | 'dead'
  at          INTEGER NOT NULL,
  PRIMARY KEY (destination, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idem_message ON idem_keys(message_id);
`;

export interface ConnectionOptions {
  maxPageCount?: number;   // tests: makes SQLITE_FULL reproducible without filling a disk
}

/**
 * Opens (creating if needed) the store database with WAL and synchronous=FULL, so a commit
 * is on disk (fsync'ed WAL) before it returns. Throws the driver's error (code SQLITE_*, or
 * the fs error code when the directory cannot be created).
 */
export function openDatabase(file: string, opts: ConnectionOptions = {}): Database.Database {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const db = new Database(file);
  try {
    db.pragma('busy_timeout = 5000');
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    if (opts.maxPageCount) db.pragma(`max_page_count = ${Math.floor(opts.maxPageCount)}`);
    if ((db.pragma('user_version', { simple: true }) as number) < SCHEMA_VERSION) {
      db.exec(`BEGIN IMMEDIATE; ${SCHEMA} PRAGMA user_version = ${SCHEMA_VERSION}; COMMIT;`);
    }
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}
