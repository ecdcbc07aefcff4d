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
const flowFile = env.MGS_FLOW_FILE ? `flows-${path.basename(sourceFlow, '.json')}.json` : 'flows.json';
const workingFlow = path.join(dataDir, flowFile);
if (!fs.existsSync(workingFlow)) {
  if (!fs.existsSync(sourceFlow)) throw new Error(`MGS_FLOW_FILE not found: ${sourceFlow}`);
  fs.copyFileSync(sourceFlow, workingFlow);
}

const loopback = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/.test(env.MGS_HOST);

// Editor and admin API login: MGS_ADMIN_USER plus a bcrypt hash in MGS_ADMIN_PASSWORD_HASH
// (make one with: node -e "console.log(require('bcryptjs').hashSync(process.argv[1], 10))" 'secret').
let adminAuth;
if (env.MGS_ADMIN_USER && env.MGS_ADMIN_PASSWORD_HASH) {
  adminAuth = {
    type: 'credentials',
    users: [{ username: env.MGS_ADMIN_USER, password: env.MGS_ADMIN_PASSWORD_HASH, permissions: '*' }],
  };
}
if (!loopback && !adminAuth && env.MGS_ALLOW_INSECURE !== '1') {
  throw new Error(`Refusing to listen on ${env.MGS_HOST} without a login: set MGS_ADMIN_USER and ` +
    'MGS_ADMIN_PASSWORD_HASH (or MGS_ALLOW_INSECURE=1 to accept the risk).');
}

let https;
if (env.MGS_HTTPS_KEY && env.MGS_HTTPS_CERT) {
  https = { key: fs.readFileSync(env.MGS_HTTPS_KEY), cert: fs.readFileSync(env.MGS_HTTPS_CERT) };
}

module.exports = {
  uiHost: env.MGS_HOST,
  uiPort: Number(env.MGS_HTTP_PORT),
  userDir: dataDir,
  flowFile,
  flowFilePretty: true,
  credentialSecret: env.MGS_CREDENTIAL_SECRET || undefined,
  adminAuth,
  https,
  // Our own package is loaded from the repository, with its examples (Import > Examples).
  nodesDir: [root],
  // Knobs read by the MGS nodes (each has a default in the node).
  mgsDataDir: dataDir,
  lang: env.MGS_LANG || 'ko',
  logging: {
    console: { level: env.MGS_LOG_LEVEL || 'info', metrics: false, audit: false },
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
