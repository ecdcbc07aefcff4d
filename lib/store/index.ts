// SPDX-License-Identifier: Apache-2.0
/**
 * Entry points of the message store for other modules. `logMessage` and `logEvent` are for
 * nodes that only record traffic (mllp in, mllp response, mllp out): they never make the caller
 * wait for the disk, and a failure to log never throws at them.
 */
import { acquireStore, storeFile, type EventEntry, type LogEntry, type StoreOptions } from './store';

export * from './store';
export * from './policy';
export { idempotencyKey, summarize, type MessageSummary } from './summary';

/**
 * Logs an inbound or outbound message into the store of `dataDir` without waiting for
 * durability. Returns the new row's id at once (null when the store cannot be opened) and a
 * promise that settles when the row is durable; ignoring that promise is safe.
 */
export function logMessage(dataDir: string, entry: LogEntry, options?: StoreOptions): { id: number | null; durable: Promise<void> } {
  const store = acquireStore(storeFile(dataDir), options);
  const r = store.log(entry);
  r.durable.then(() => store.release(), () => store.release());
  return r;
}

/**
 * Adds a status change or note to a logged message (e.g. `{ acked: true, actor: 'mllp-response',
 * detail: 'AA' }` once the ACK went out). Never throws; the promise settles when durable.
 */
export function logEvent(dataDir: string, messageId: number, event: EventEntry, options?: StoreOptions): Promise<void> {
  const store = acquireStore(storeFile(dataDir), options);
  const p = store.event(messageId, event);
  p.then(() => store.release(), () => store.release());
  p.catch(() => undefined);
  return p;
}
