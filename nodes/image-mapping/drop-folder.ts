// SPDX-License-Identifier: Apache-2.0
// Optional drop folder: files an MG (or a person) copies into a folder are taken into the image queue
// once their size has stopped changing, then removed from the folder. Polled, so it works on network shares.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ImageQueue } from '../../lib/images/queue';
import { validateImageName } from '../../lib/images/names';

export class DropFolder {
  private timer: NodeJS.Timeout | undefined;
  private seen = new Map<string, string>();   // name -> "size:mtime" at the previous scan
  private busy: Promise<void> = Promise.resolve();
  private badNames = new Set<string>();

  constructor(readonly dir: string, private readonly queue: ImageQueue, private readonly maxBytes: number,
              private readonly onError: (err: unknown) => void, private readonly intervalMs = 1000) {}

  start(): void {
    fs.mkdirSync(this.dir, { recursive: true });
    this.timer = setInterval(() => { this.busy = this.busy.then(() => this.scan()); }, this.intervalMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.busy;
  }

  /** One pass: files unchanged since the previous pass are taken. */
  async scan(): Promise<void> {
    let names: string[];
    try { names = fs.readdirSync(this.dir); } catch (err) { this.onError(err); return; }
    const next = new Map<string, string>();
    for (const name of names) {
      const full = path.join(this.dir, name);
      let st: fs.Stats;
      try { st = fs.statSync(full); } catch { continue; }
      if (!st.isFile() || name.startsWith('.')) continue;
      try { validateImageName(name); } catch (err) {
        if (!this.badNames.has(name)) { this.badNames.add(name); this.onError(err); }
        continue;
      }
      const sig = `${st.size}:${st.mtimeMs}`;
      if (this.seen.get(name) !== sig) { next.set(name, sig); continue; }
      try {
        await this.queue.addUpload(fs.createReadStream(full), name, { maxBytes: this.maxBytes, actor: `drop ${this.dir}`, origin: 'drop' });
        fs.unlinkSync(full);
      } catch (err) {
        next.set(name, sig);
        this.onError(err);
      }
    }
    this.seen = next;
  }
}
