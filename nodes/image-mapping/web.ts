// SPDX-License-Identifier: Apache-2.0
// Serves the management page (plain files under web/ at the package root) at <httpAdminRoot>/mgs/.
// The shell is public like the editor's own index page; every data route it calls needs the login.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NodeAPI } from 'node-red';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.css': 'text/css; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon',
};

/** web/ beside the package root, found by walking up from the compiled file (dist/ or a test build folder). */
export function webRoot(): string | undefined {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    if (fs.existsSync(path.join(dir, 'web', 'index.html')) && fs.existsSync(path.join(dir, 'package.json'))) return path.join(dir, 'web');
    dir = path.dirname(dir);
  }
  return undefined;
}

export function serveWeb(RED: NodeAPI): void {
  const root = webRoot();
  const app = RED.httpAdmin as any;
  app.get(/^\/mgs$/, (req: IncomingMessage, res: ServerResponse) => {
    const base = (req as any).originalUrl?.split('?')[0] ?? '/mgs';
    res.statusCode = 301; res.setHeader('Location', `${base}/`); res.end();
  });
  app.get(/^\/mgs\/((?:[a-z0-9-]+\/)*[a-z0-9.-]*)$/, (req: IncomingMessage & { params: Record<string, string> }, res: ServerResponse, next: () => void) => {
    const rel = req.params[0] || 'index.html';
    if (!root || rel.includes('..') || rel.startsWith('api/') || rel.startsWith('image-queue')) { next(); return; }
    const file = path.join(root, rel);
    if (!file.startsWith(root + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) { next(); return; }
    res.setHeader('Content-Type', TYPES[path.extname(file)] ?? 'application/octet-stream');
    res.setHeader('Cache-Control', 'no-cache');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('X-Frame-Options', 'DENY');
    fs.createReadStream(file).pipe(res);
  });
}
