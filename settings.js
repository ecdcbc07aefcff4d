// SPDX-License-Identifier: Apache-2.0
// Node-RED settings for MGS, the Medical Gateway Server.
// The user directory is the data directory (MGS_DATA_DIR, default ./data). On first start the
// default flow (flows/gateway.json, or the file named by MGS_FLOW_FILE) is copied there, so
// edits made in the editor never change the repository's files.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = __dirname;
const env = process.env;

// Defaults for the variables the flows refer to as ${MGS_...}.
env.MGS_HOST = env.MGS_HOST || '127.0.0.1';
env.MGS_HTTP_PORT = env.MGS_HTTP_PORT || '1880';
env.MGS_MLLP_PORT = env.MGS_MLLP_PORT || '2575';

const dataDir = path.resolve(env.MGS_DATA_DIR || path.join(root, 'data'));
fs.mkdirSync(dataDir, { recursive: true });

// The flow the gateway starts from; a vendor's per-site flow gets its own working copy.
const sourceFlow = path.resolve(env.MGS_FLOW_FILE || path.join(root, 'flows', 'gateway.json'));
// The working copy is named after the source's path, so two examples both called flow.json
// (examples/emr-postgres/flow.json, examples/emr-mariadb/flow.json) get copies of their own.
const flowSlug = path.relative(root, sourceFlow).replace(/\.json$/i, '').replace(/[^A-Za-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '');
const flowFile = env.MGS_FLOW_FILE ? `flows-${flowSlug || 'site'}.json` : 'flows.json';
const workingFlow = path.join(dataDir, flowFile);
if (!fs.existsSync(workingFlow)) {
  if (!fs.existsSync(sourceFlow)) throw new Error(`MGS_FLOW_FILE not found: ${sourceFlow}`);
  fs.copyFileSync(sourceFlow, workingFlow);
}

const loopback = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/.test(env.MGS_HOST);

// Exposure rules (docs/security.md). On loopback (the default) the gateway is reachable only from this machine.
// On any other address: the editor, the admin API and /mgs/api need a login (adminAuth), and the HTTP routes
// of the flows (httpNode: the MG's image upload POST /mgs/images/<name>) need their own credentials.
// MGS_ALLOW_INSECURE=1 lifts both rules, for a network that is protected otherwise.
const insecureAllowed = env.MGS_ALLOW_INSECURE === '1';
const BCRYPT = /^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/;
function bcryptHash(name) {
  const hash = env[name];
  if (!BCRYPT.test(hash)) {
    throw new Error(`${name} is not a bcrypt hash (make one with: ` +
      `node -e "console.log(require('bcryptjs').hashSync(process.argv[1], 10))" 'the password')`);
  }
  return hash;
}

// Editor and admin API login: MGS_ADMIN_USER plus a bcrypt hash in MGS_ADMIN_PASSWORD_HASH. A login lasts
// MGS_SESSION_HOURS (default 12, one shift) instead of Node-RED's 7 days.
let adminAuth;
if (env.MGS_ADMIN_USER || env.MGS_ADMIN_PASSWORD_HASH) {
  if (!env.MGS_ADMIN_USER) throw new Error('MGS_ADMIN_PASSWORD_HASH is set but MGS_ADMIN_USER is not');
  adminAuth = {
    type: 'credentials',
    users: [{ username: env.MGS_ADMIN_USER, password: bcryptHash('MGS_ADMIN_PASSWORD_HASH'), permissions: '*' }],
    sessionExpiryTime: Math.round(Number(env.MGS_SESSION_HOURS || 12) * 3600),
  };
}
if (!loopback && !adminAuth && !insecureAllowed) {
  throw new Error(`Refusing to listen on ${env.MGS_HOST} without a login: set MGS_ADMIN_USER and ` +
    'MGS_ADMIN_PASSWORD_HASH (or MGS_ALLOW_INSECURE=1 to accept the risk).');
}

// Credentials for the flows' HTTP routes (the MG's image upload): a bearer token (MGS_UPLOAD_TOKEN, sent as
// "Authorization: Bearer <token>") and/or HTTP basic credentials (MGS_UPLOAD_USER + bcrypt MGS_UPLOAD_PASSWORD_HASH).
// Required as soon as one is set; when the gateway is exposed without any, those routes answer 401 to everyone.
const uploadToken = env.MGS_UPLOAD_TOKEN || '';
if (uploadToken && uploadToken.length < 16) throw new Error('MGS_UPLOAD_TOKEN must be at least 16 characters long');
const uploadUser = env.MGS_UPLOAD_USER || '';
const uploadHash = uploadUser || env.MGS_UPLOAD_PASSWORD_HASH ? bcryptHash('MGS_UPLOAD_PASSWORD_HASH') : '';
let httpNodeAuth;
if (uploadToken || uploadUser || (!loopback && !insecureAllowed)) {
  const crypto = require('node:crypto');
  const bcrypt = require('bcryptjs');
  const digest = (s) => crypto.createHash('sha256').update(s).digest();
  const sameText = (a, b) => crypto.timingSafeEqual(digest(a), digest(b));
  let lastGood = '';   // bcrypt is slow on purpose: remember the last accepted basic credentials
  httpNodeAuth = function mgsHttpNodeAuth(req, res, next) {
    if (req.method === 'OPTIONS') return next();
    const header = String(req.headers.authorization || '');
    const [scheme, value = ''] = header.split(/\s+/, 2);
    if (uploadToken && /^bearer$/i.test(scheme) && sameText(value, uploadToken)) return next();
    if (uploadHash && /^basic$/i.test(scheme)) {
      if (lastGood && sameText(value, lastGood)) return next();
      const text = Buffer.from(value, 'base64').toString('utf8');
      const colon = text.indexOf(':');
      if (colon > 0 && sameText(text.slice(0, colon), uploadUser) && bcrypt.compareSync(text.slice(colon + 1), uploadHash)) {
        lastGood = value;
        return next();
      }
    }
    res.set('WWW-Authenticate', uploadHash ? 'Basic realm="MGS"' : 'Bearer realm="MGS"');
    res.sendStatus(401);
  };
  if (!uploadToken && !uploadUser) {
    console.warn(`MGS: listening on ${env.MGS_HOST} without MGS_UPLOAD_TOKEN or MGS_UPLOAD_USER: ` +
      'image uploads (POST /mgs/images/<name>) are refused with 401 until one is set.');
  }
}

let https;
if (env.MGS_HTTPS_KEY || env.MGS_HTTPS_CERT) {
  if (!env.MGS_HTTPS_KEY || !env.MGS_HTTPS_CERT) throw new Error('HTTPS needs both MGS_HTTPS_KEY and MGS_HTTPS_CERT');
  https = { key: fs.readFileSync(env.MGS_HTTPS_KEY), cert: fs.readFileSync(env.MGS_HTTPS_CERT) };
  if (env.MGS_HTTPS_PASSPHRASE) https.passphrase = env.MGS_HTTPS_PASSPHRASE;
} else if (!loopback) {
  console.warn(`MGS: listening on ${env.MGS_HOST} over plain HTTP: logins and uploads cross the network ` +
    'unencrypted; set MGS_HTTPS_KEY and MGS_HTTPS_CERT.');
}

// Browser hardening for the editor, the API and the management page: no framing (clickjacking), no MIME
// sniffing, no referrer leaving the site, and with HTTPS the browser is told to stay on HTTPS.
function httpAdminMiddleware(req, res, next) {
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
  if (https) res.setHeader('Strict-Transport-Security', 'max-age=31536000');
  next();
}

module.exports = {
  uiHost: env.MGS_HOST,
  uiPort: Number(env.MGS_HTTP_PORT),
  userDir: dataDir,
  flowFile,
  flowFilePretty: true,
  credentialSecret: env.MGS_CREDENTIAL_SECRET || undefined,
  adminAuth,
  httpNodeAuth,
  httpAdminMiddleware,
  https,
  // Our own package is loaded from the repository, with its examples (Import > Examples).
  nodesDir: [root],
  // Knobs read by the MGS nodes (each has a default in the node).
  mgsDataDir: dataDir,
  lang: env.MGS_LANG || 'ko',
  logging: {
    // With a login, the audit trail (logins, failed logins, deploys, by user) goes to the log too; MGS_AUDIT_LOG=0 turns it off.
    console: { level: env.MGS_LOG_LEVEL || 'info', metrics: false, audit: Boolean(adminAuth) && env.MGS_AUDIT_LOG !== '0' },
  },
  editorTheme: {
    page: { title: 'MGS — Medical Gateway Server' },
    header: { title: 'MGS Medical Gateway Server' },
    projects: { enabled: false },
    tours: false,
  },
  diagnostics: { enabled: false },
  telemetry: { enabled: false, updateNotification: false },
  runtimeState: { enabled: false },
  functionExternalModules: false,
  exportGlobalContextKeys: false,
  externalModules: { autoInstall: false, palette: { allowInstall: false }, modules: { allowInstall: false } },
};
