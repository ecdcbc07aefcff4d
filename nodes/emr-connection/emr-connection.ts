// SPDX-License-Identifier: Apache-2.0
import type { Node, NodeAPI, NodeDef } from 'node-red';
import type { Request, Response } from 'express';
import {
  createAdapter, DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_POOL_SIZE, DEFAULT_QUERY_TIMEOUT_MS, describeOptions, parseEmrUrl, resolveOptions,
  type EmrAdapter, type EmrConnectionOptions, type TlsOptions,
} from '../../lib/emr/adapter';
import { ensureDemoEmr } from '../../lib/emr/demo';
import { DIALECTS, type Dialect } from '../../lib/emr/named-params';
import { withTimeout } from '../../lib/emr/timeout';
import { GatewayError } from '../../lib/errors';
import { reportConfigFailure } from '../shared/config-failure';
import { configNumber, type EmrConnectionNode } from '../shared/emr';
import { toCatchable } from '../shared/report';

/** Editor configuration (property names are what flow files carry). */
interface EmrConnectionDef extends NodeDef {
  dialect: Dialect;
  /** postgres://..., mysql://..., mssql://..., sqlite:/path (its scheme decides the dialect); `${MGS_EMR_URL}` allowed; empty + sqlite = the demo EMR. */
  url: string;
  host: string;
  port: string | number;
  database: string;
  user: string;
  poolSize: string | number;
  /** ms */
  connectTimeout: string | number;
  /** ms */
  queryTimeout: string | number;
  tls: boolean;
  /** Verify the server certificate (when no tls-config node says otherwise). */
  tlsVerify: boolean;
  /** Optional tls-config node (CA, client certificate). */
  tlsConfig: string;
  decimals: 'string' | 'number';
}

interface EmrCredentials { password?: string }

/** The fields of a dialog or a deployed node, as the route and the node both read them. */
type ConnectionFields = Partial<Omit<EmrConnectionDef, keyof NodeDef>> & { id?: string };

interface TlsConfigNode extends Node {
  addTLSOptions?(opts: Record<string, unknown>): Record<string, unknown>;
  verifyservercert?: boolean;
}

export = function (RED: NodeAPI): void {
  const util = RED.util as unknown as { getSetting?(node: Node | null, name: string): unknown };

  /** `${NAME}` from the node's, flow's or global environment, else the process's (Node-RED only maps whole-property references it can resolve). */
  function substituteEnv(node: Node | null, text: string): string {
    return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => {
      const v = util.getSetting ? util.getSetting(node, name) : process.env[name];
      return v === undefined || v === null ? '' : String(v);
    });
  }

  function dataDir(): string {
    const s = RED.settings as unknown as { mgsDataDir?: string; userDir?: string };
    const dir = s.mgsDataDir ?? s.userDir;
    if (!dir) throw new GatewayError('EMR_BAD_CONFIG', { detail: 'no data directory (settings.mgsDataDir or userDir) for the demo EMR' });
    return dir;
  }

  function tlsOptions(f: ConnectionFields): boolean | TlsOptions | undefined {
    if (!f.tls) return undefined;
    const tls: TlsOptions = { rejectUnauthorized: f.tlsVerify !== false };
    const cfg = f.tlsConfig ? RED.nodes.getNode(f.tlsConfig) as TlsConfigNode | null : null;
    if (cfg && typeof cfg.addTLSOptions === 'function') {
      const o = cfg.addTLSOptions({}) as Record<string, string | Buffer | undefined>;
      if (o.ca) tls.ca = o.ca;
      if (o.cert) tls.cert = o.cert;
      if (o.key) tls.key = o.key;
      if (typeof o.passphrase === 'string') tls.passphrase = o.passphrase;
      if (typeof o.servername === 'string') tls.servername = o.servername;
      if (typeof cfg.verifyservercert === 'boolean') tls.rejectUnauthorized = cfg.verifyservercert;
    }
    return tls;
  }

  /** Adapter options from dialog fields; the demo EMR is created when the fields point at it. */
  function optionsOf(node: Node | null, f: ConnectionFields, password: string | undefined): EmrConnectionOptions {
    const url = substituteEnv(node, String(f.url ?? '')).trim();
    // A URL names its database by its scheme, so one flow serves the demo (MGS_EMR_URL unset) and a real EMR.
    const dialect = (url ? parseEmrUrl(url).dialect : undefined) ?? (f.dialect || 'sqlite') as Dialect;
    if (!DIALECTS.includes(dialect)) throw new GatewayError('EMR_BAD_CONFIG', { detail: `unknown dialect ${String(dialect)}` });
    const o: EmrConnectionOptions = {
      dialect,
      url: url || undefined,
      host: substituteEnv(node, String(f.host ?? '')).trim() || undefined,
      port: substituteEnv(node, String(f.port ?? '')).trim() === '' ? undefined : configNumber(substituteEnv(node, String(f.port)).trim(), 'port', 1),
      database: substituteEnv(node, String(f.database ?? '')).trim() || undefined,
      user: substituteEnv(node, String(f.user ?? '')).trim() || undefined,
      password: password || undefined,
      poolSize: configNumber(f.poolSize, 'pool size', DEFAULT_POOL_SIZE),
      connectTimeoutMs: configNumber(f.connectTimeout, 'connect time-out', DEFAULT_CONNECT_TIMEOUT_MS),
      queryTimeoutMs: configNumber(f.queryTimeout, 'query time-out', DEFAULT_QUERY_TIMEOUT_MS),
      tls: tlsOptions(f),
      decimals: f.decimals === 'number' ? 'number' : 'string',
    };
    if (dialect === 'sqlite' && !o.url && !o.database) o.filename = ensureDemoEmr(dataDir());
    return o;
  }

  function EmrConnectionNodeCtor(this: Node<EmrCredentials>, config: EmrConnectionDef): void {
    RED.nodes.createNode(this, config);
    const node = this as unknown as EmrConnectionNode & Node<EmrCredentials>;
    const creds = (node.credentials ?? {}) as EmrCredentials;
    let adapter: EmrAdapter | undefined;
    let target = '';
    let closing = false;

    node.getAdapter = (): EmrAdapter => {
      if (closing) throw new GatewayError('EMR_UNREACHABLE', { detail: 'the EMR connection is closing', hl7Code: '207', ackCode: 'AE' });
      if (!adapter) {
        const o = optionsOf(node, config, creds.password);
        adapter = createAdapter(o);
        target = describeOptions(resolveOptions(o));
        node.log(RED._('emr-connection.log.opened', { target }));
      }
      return adapter;
    };
    node.describe = (): string => target;

    // A wrong setting is reported at deploy, catchably, instead of at the first message.
    let cancel = (): void => undefined;
    try {
      resolveOptions(optionsOf(node, config, creds.password));
    } catch (err) {
      cancel = reportConfigFailure(RED, node, err);
    }

    node.on('close', (_removed: boolean, done: () => void) => {
      cancel();
      closing = true;
      const a = adapter;
      adapter = undefined;
      if (!a) { done(); return; }
      a.close().then(() => done(), (err: unknown) => { node.warn(toCatchable(RED, err).message); done(); });
    });
  }

  RED.nodes.registerType<Node<EmrCredentials>, EmrConnectionDef, unknown, EmrCredentials>('emr-connection', EmrConnectionNodeCtor, {
    credentials: { password: { type: 'password' } },
  });

  // "Test connection" in the dialog: the dialog's current fields (not yet deployed), the
  // password typed there or, when it shows the stored placeholder, the deployed node's.
  RED.httpAdmin.post('/emr-connection/test', RED.auth.needsPermission('emr-connection.write'),
    (req: Request, res: Response) => {
      const body = (req.body ?? {}) as ConnectionFields & { password?: string };
      let password = typeof body.password === 'string' && body.password !== '__PWRD__' ? body.password : undefined;
      if (password === undefined && body.id) {
        const stored = RED.nodes.getCredentials(body.id) as EmrCredentials | undefined;
        password = stored?.password;
      }
      const started = Date.now();
      let a: EmrAdapter | undefined;
      let target = '';
      void (async () => {
        try {
          const o = optionsOf(null, body, password);
          target = describeOptions(resolveOptions(o));
          a = createAdapter(o);
          await withTimeout(a.ping(), (o.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS) + (o.queryTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS));
          res.json({ ok: true, target, ms: Date.now() - started });
        } catch (err) {
          const e = toCatchable(RED, err) as Error & { code?: string };
          res.json({ ok: false, target, code: e.code ?? 'EMR_QUERY_FAILED', message: e.message });
        } finally {
          if (a) await a.close().catch(() => undefined);
        }
      })();
    });
};
