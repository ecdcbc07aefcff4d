// SPDX-License-Identifier: Apache-2.0
// A node's status line on the hot path: computed (and translated) at most once per interval, and passed to
// node.status() only when it differs from the one shown. The first change after a quiet interval shows at once;
// changes within the interval show together at its end. reset() after the node set a status itself (a failure),
// close() on close.
import type { Node, NodeStatus } from 'node-red';

export interface StatusThrottle {
  /** Something the status shows has changed. */
  touch(): void;
  /** Shows the current status now (e.g. on a rare event), then throttles again. */
  flush(): void;
  /** The node showed another status itself (e.g. reportFailure): forget what was shown and drop a pending update. */
  reset(): void;
  /** Clears the timer and the status line. */
  close(): void;
}

export const STATUS_INTERVAL_MS = 500;

export function statusThrottle(node: Node, compute: () => NodeStatus, intervalMs = STATUS_INTERVAL_MS): StatusThrottle {
  let timer: NodeJS.Timeout | null = null;
  let dirty = false;
  let closed = false;
  let shown = '';

  const show = (): void => {
    dirty = false;
    const s = compute();
    const key = `${String(s.fill)}|${String(s.shape)}|${String(s.text)}`;
    if (key === shown) return;
    shown = key;
    node.status(s);
  };
  const tick = (): void => {
    timer = null;
    if (closed || !dirty) return;
    show();
    timer = setTimeout(tick, intervalMs);
    timer.unref();
  };

  return {
    touch(): void {
      if (closed) return;
      if (timer) { dirty = true; return; }
      show();
      timer = setTimeout(tick, intervalMs);
      timer.unref();
    },
    flush(): void {
      if (closed) return;
      if (timer) { clearTimeout(timer); timer = null; }
      show();
      timer = setTimeout(tick, intervalMs);
      timer.unref();
    },
    reset(): void {
      dirty = false;
      shown = '';
    },
    close(): void {
      closed = true;
      if (timer) { clearTimeout(timer); timer = null; }
      node.status({});
    },
  };
}
