// SPDX-License-Identifier: Apache-2.0
/** Types shared by the store's main-thread side and its writer. */

export type MessageStatus = 'received' | 'acked' | 'spooled' | 'delivered' | 'failed' | 'dead' | 'duplicate';
export type Direction = 'in' | 'out';

/** Columns written with a message; null summary fields are read from the text by the writer. */
export interface MessageColumns {
  direction: Direction;
  kind: string | null;
  type: string | null;
  controlId: string | null;
  sender: string | null;
  barcode: string | null;
  patientId: string | null;
  peer: string | null;
  raw: Uint8Array | null;
  text: string;
}

export interface ErrorInfo { code: string; message: string }

/** One write, as the writer receives it. Every op carries its own timestamp (`at`, ms). */
export type WriteOp =
  | { op: 'log'; id: number; at: number; status: MessageStatus; actor: string; detail: string | null;
      relatedId: number | null; cols: MessageColumns }
  | { op: 'event'; id: number; at: number; status: MessageStatus | null; actor: string; detail: string | null;
      acked: boolean; error: ErrorInfo | null }
  | { op: 'enqueue'; id: number; at: number; destination: string; key: string | null; autoKey: boolean; meta: string | null;
      actor: string; cols: MessageColumns }
  | { op: 'delivered'; seq: number; at: number; attempts: number; actor: string; detail: string | null }
  | { op: 'failed'; seq: number; at: number; attempts: number; failures: number; nextAt: number;
      error: ErrorInfo; actor: string }
  | { op: 'dead'; seq: number; at: number; attempts: number; failures: number; error: ErrorInfo; actor: string }
  | { op: 'reprocess'; id: number; at: number; destination: string | null; actor: string }
  | { op: 'park'; seq: number; at: number; actor: string; detail: string | null }
  | { op: 'purge'; at: number; olderThan: number | null; batch: number };

export interface EnqueueResult {
  messageId: number;        // the row of this message (a duplicate gets its own row, status 'duplicate')
  seq: number | null;       // spool sequence, null for a duplicate
  duplicate: boolean;
  originalId: number | null;   // for a duplicate: the message already queued or delivered
  key: string | null;          // the idempotency key used
}

export interface TransitionResult { changed: boolean; messageId: number | null; destination: string | null }
export interface ReprocessResult { messageId: number; seq: number; destination: string; alreadyQueued: boolean }
export interface PurgeResult { deleted: number }

/** Per-op outcome sent back by the writer. `gateway` marks a domain error (not an I/O failure). */
export type OpResult =
  | { ok: true; value: unknown }
  | { ok: false; error: { code: string; message: string; gateway?: { code: string; params: Record<string, string | number> } } };

export interface BatchRequest { batch: number; ops: WriteOp[] }
export interface BatchReply { batch: number; results: OpResult[]; commitMs: number }
