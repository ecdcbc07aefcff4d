// SPDX-License-Identifier: Apache-2.0
/**
 * Worker-thread entry of the store writer: the fsync of each commit happens here, so the
 * Node-RED event loop keeps reading sockets (and queueing the next group) meanwhile.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Writer } from './writer';
import type { BatchRequest } from './types';

const { file, options } = workerData as { file: string; options: { maxPageCount?: number } };
const writer = new Writer(file, options);
const port = parentPort;
if (!port) throw new Error('writer-worker must run in a worker thread');

port.on('message', (m: BatchRequest | { close: true }) => {
  if ('close' in m) {
    writer.close();
    port.postMessage({ closed: true });
    port.close();
    return;
  }
  port.postMessage(writer.apply(m));
});
