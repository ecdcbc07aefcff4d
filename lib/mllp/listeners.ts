// SPDX-License-Identifier: Apache-2.0
/**
 * Running MLLP receivers, for the management API's status (/mgs/api/stats `listeners`). A module
 * singleton like the reply sessions: every `mllp in` node registers itself while it runs and the API
 * reads the list. Entries are read live (connections, bound port) when asked for, never copied.
 */

/** What a receiver tells about itself. */
export interface ListenerSource {
  /** Node id. */
  readonly id: string;
  /** Node name ('' when unnamed). */
  readonly name: string;
  /** Configured interface ('' = all). */
  readonly host: string;
  /** Bound port once listening, else the configured one. */
  port(): number;
  /** Whether the port is open. */
  listening(): boolean;
  /** Open connections now. */
  connections(): number;
  /** Messages received since the node started. */
  received(): number;
  /** MLLP over TLS. */
  readonly tls: boolean;
}

export interface ListenerInfo {
  id: string; name: string; host: string; port: number; listening: boolean; connections: number; received: number; tls: boolean;
}

const listeners = new Map<string, ListenerSource>();

/** Registers a receiver; the returned function removes it (call it on close). */
export function registerListener(source: ListenerSource): () => void {
  listeners.set(source.id, source);
  return () => { if (listeners.get(source.id) === source) listeners.delete(source.id); };
}

/** The running receivers, by port. */
export function listenerInfo(): ListenerInfo[] {
  return [...listeners.values()].map((l) => ({
    id: l.id, name: l.name, host: l.host, port: l.port(), listening: l.listening(),
    connections: l.connections(), received: l.received(), tls: l.tls,
  })).sort((a, b) => a.port - b.port || a.id.localeCompare(b.id));
}
