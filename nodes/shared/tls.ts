// SPDX-License-Identifier: Apache-2.0
/**
 * TLS options from Node-RED's core `tls-config` config node, the one integrators already use for
 * `tcp in`, MQTT and HTTP: certificate, key and CA either as uploaded files (kept in its credentials)
 * or as paths on the server, plus an optional passphrase.
 */
import * as tls from 'node:tls';
import type { Node, NodeAPI } from 'node-red';
import { GatewayError } from '../../lib/errors';

/** The parts of the core tls-config node that are used here (node-red/.../core/network/05-tls.js). */
interface TlsConfigNode extends Node {
  valid: boolean;
  addTLSOptions(opts: tls.ConnectionOptions & tls.TlsOptions): tls.ConnectionOptions & tls.TlsOptions;
}

function bad(detail: string): never {
  throw new GatewayError('CONFIG_INVALID', { detail });
}

/** Reads the tls-config node `id` ('' = no TLS -> undefined); throws GatewayError CONFIG_INVALID. */
function fromConfigNode(RED: NodeAPI, id: string | undefined): (tls.ConnectionOptions & tls.TlsOptions) | undefined {
  if (!id) return undefined;
  const cfg = RED.nodes.getNode(id) as TlsConfigNode | null;
  if (!cfg || typeof cfg.addTLSOptions !== 'function') bad(`TLS configuration ${id} not found`);
  // tls-config reports its own file errors; here it is enough to refuse to run without TLS.
  if (!cfg.valid) bad(`TLS configuration "${cfg.name || id}" is invalid (see its error)`);
  return cfg.addTLSOptions({});
}

function checkContext(opts: tls.SecureContextOptions): void {
  try {
    tls.createSecureContext(opts);
  } catch (err) {
    bad(`TLS: ${(err as Error).message}`);
  }
}

/**
 * Listener options (`mllp in`): the server certificate and key are required; with `requireClientCert`
 * every client must present a certificate signed by the configuration's CA.
 */
export function serverTlsOptions(RED: NodeAPI, id: string | undefined, requireClientCert: boolean): tls.TlsOptions | undefined {
  const o = fromConfigNode(RED, id);
  if (!o) {
    if (requireClientCert) bad('client certificates can only be required with a TLS configuration');
    return undefined;
  }
  if (!o.cert || !o.key) bad('a TLS listener needs a certificate and its private key in the TLS configuration');
  if (requireClientCert && !o.ca) bad('requiring client certificates needs the CA certificate in the TLS configuration');
  const { key, cert, ca, passphrase } = o;
  const opts: tls.TlsOptions = { key, cert, ...(ca ? { ca } : {}), ...(passphrase ? { passphrase } : {}),
    requestCert: requireClientCert, rejectUnauthorized: requireClientCert };
  checkContext(opts);
  return opts;
}

/**
 * Sender options (`mllp out`): the CA to trust (system CAs when empty), an optional client certificate, and
 * whether the server's certificate is verified (the tls-config's "verify server certificate").
 */
export function clientTlsOptions(RED: NodeAPI, id: string | undefined): tls.ConnectionOptions | undefined {
  const o = fromConfigNode(RED, id);
  if (!o) return undefined;
  const { key, cert, ca, passphrase, servername, rejectUnauthorized } = o;
  const opts: tls.ConnectionOptions = { ...(key ? { key } : {}), ...(cert ? { cert } : {}), ...(ca ? { ca } : {}),
    ...(passphrase ? { passphrase } : {}), ...(servername ? { servername } : {}), rejectUnauthorized: rejectUnauthorized !== false };
  checkContext(opts);
  return opts;
}
