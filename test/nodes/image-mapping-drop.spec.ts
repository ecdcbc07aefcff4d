// SPDX-License-Identifier: Apache-2.0
// The image mapping drop folder: files are taken once their size stops changing, then removed from the folder.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ImageQueue } from '../../lib/images/queue';
import { DropFolder } from '../../nodes/image-mapping/drop-folder';

describe('image-mapping drop folder', () => {
  let dir: string;
  let queue: ImageQueue;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mgs-drop-'));
    queue = new ImageQueue(path.join(dir, 'images'));
  });
  afterEach(() => { queue.close(); fs.rmSync(dir, { recursive: true, force: true }); });

  it('takes a file only when it is stable, records it as a drop, and leaves badly named files with one error', async () => {
    const drop = path.join(dir, 'drop');
    const errors: unknown[] = [];
    const folder = new DropFolder(drop, queue, 1 << 20, (e) => errors.push(e));
    fs.mkdirSync(drop);
    fs.writeFileSync(path.join(drop, 'E031-000300.jpg'), 'part one');
    fs.writeFileSync(path.join(drop, 'bad name.jpg'), 'x');
    await folder.scan();
    assert.deepEqual(queue.list(), []);                                    // first sight: maybe still being written
    fs.appendFileSync(path.join(drop, 'E031-000300.jpg'), ', part two');
    await folder.scan();
    assert.deepEqual(queue.list(), []);                                    // it grew: wait again
    await folder.scan();
    const [e] = queue.list();
    assert.deepEqual([e.name, e.state, e.source, e.size], ['E031-000300.jpg', 'awaiting-message', 'drop', 18]);
    assert.equal(fs.readFileSync(e.filePath!, 'utf8'), 'part one, part two');
    assert.deepEqual(fs.readdirSync(drop), ['bad name.jpg']);
    await folder.scan();
    assert.equal(errors.length, 1);
    assert.equal((errors[0] as { code: string }).code, 'IMAGE_BAD_NAME');
    await folder.stop();
  });
});
