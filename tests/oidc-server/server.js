#!/usr/bin/env node
// OAuth 2.0 / OpenID Connect server for hubauth's tests, built on oidc-provider.
//
//   node server.js [--port 0] [--access-ttl SECS] [--refresh-ttl SECS]
//                  [--device-interval SECS] [--scopes "extra scopes"] [--ignore-stdin]
//                  [--no-device-flow] [--no-revocation] [--revocation-in-rfc8414]
//                  [--no-verification-uri-complete]
//
// Binds 127.0.0.1 only. When ready prints exactly one line on stdout:
//   ISSUER=http://127.0.0.1:PORT
// Exits on EOF on stdin (unless --ignore-stdin), SIGTERM or SIGINT.
// See README.md for the clients, grants and /_test/* control endpoints.

import { randomBytes } from 'node:crypto';
import http from 'node:http';
import fs from 'node:fs';

import Provider, { errors } from 'oidc-provider';
// internal, but stable within the pinned version: gives the live scope Set
import instance from 'oidc-provider/lib/helpers/weak_cache.js';

import { approve, browse } from './approve.js';

// ---------------------------------------------------------------- arguments
function parseArgs(argv) {
  const o = {
    port: 0, accessTtl: 60, refreshTtl: 86400, scopes: [], ignoreStdin: false, deviceInterval: undefined,
    deviceFlow: true,
    revocation: true,
    revocationInRfc8414: false,
    verificationUriComplete: true,
  };
  const num = (name, v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) {
      process.stderr.write(`server.js: ${name} needs a non-negative integer, got ${v}\n`);
      process.exit(2);
    }
    return n;
  };
  for (let i = 0; i < argv.length; i += 1) {
    let [k, v] = argv[i].split(/=(.*)/s, 2);
    const take = () => (v !== undefined ? v : argv[++i]);
    switch (k) {
      case '--port': o.port = num(k, take()); break;
      case '--access-ttl': o.accessTtl = num(k, take()); break;
      case '--refresh-ttl': o.refreshTtl = num(k, take()); break;
      case '--device-interval': o.deviceInterval = num(k, take()); break;
      case '--scopes': o.scopes.push(...take().split(/[\s,]+/).filter(Boolean)); break;
      case '--ignore-stdin': o.ignoreStdin = true; break;
      case '--no-device-flow': o.deviceFlow = false; break;
      case '--no-revocation': o.revocation = false; break;
      case '--revocation-in-rfc8414': o.revocationInRfc8414 = true; break;
      case '--no-verification-uri-complete': o.verificationUriComplete = false; break;
      case '-h': case '--help':
        process.stdout.write('usage: node server.js [--port 0] [--access-ttl SECS] [--refresh-ttl SECS] [--device-interval SECS] [--scopes "a b"] [--ignore-stdin] [--no-device-flow] [--no-revocation] [--revocation-in-rfc8414] [--no-verification-uri-complete]\n');
        process.exit(0);
        break;
      default:
        process.stderr.write(`server.js: unknown argument ${argv[i]}\n`);
        process.exit(2);
    }
  }
  if (o.accessTtl < 1) o.accessTtl = 1;
  if (o.refreshTtl < 1) o.refreshTtl = 1;
  return o;
}

const opts = parseArgs(process.argv.slice(2));

// ---------------------------------------------------------------- fixtures
const ACCOUNTS = {
  alice: {
    sub: 'alice', name: 'Alice Example', preferred_username: 'alice', email: 'alice@example.com', email_verified: true,
  },
  bob: {
    sub: 'bob', name: 'Bob Example', preferred_username: 'bob', email: 'bob@example.com', email_verified: true,
  },
};

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const DEVICE_CODE = 'urn:ietf:params:oauth:grant-type:device_code';
const TT_PAT = 'urn:ietf:params:oauth:token-type:pat';
const TT_ACCESS = 'urn:ietf:params:oauth:token-type:access_token';

// personal access token -> { accountId, scope }
const PATS = new Map([['pat-alice-0123456789', { accountId: 'alice', scope: 'credentials' }]]);

const SCOPES = [...new Set(['openid', 'offline_access', 'profile', 'email', 'credentials', ...opts.scopes])];

// ---------------------------------------------------------------- stats
function freshStats() {
  return {
    token_requests: {}, // grant_type -> requests seen by POST /token
    token_success: {}, // grant_type -> 200 answers
    token_errors: {}, // grant_type -> error answers
    errors: {}, // error code -> count (token endpoint)
    refresh_success: 0,
    refresh_errors: 0,
    refresh_reuse: 0, // rotated (consumed) refresh token presented again
    lost_replies: 0, // requests the server acted on whose reply /_test/inject replaced
    refresh_tokens_consumed: 0,
    grants_revoked: 0,
    exchange_success: 0,
    exchange_errors: 0,
    device_authorizations: 0,
    device_approved: 0,
    device_denied: 0,
    introspection_requests: 0,
    introspection_active: 0,
    revocation_requests: 0,
    userinfo_requests: 0,
    injected: {}, // error code -> answers made up by /_test/inject
  };
}
let stats = freshStats();
const bump = (obj, key) => { obj[key] = (obj[key] || 0) + 1; };

// Pending made-up answers, see POST /_test/inject.
const ENDPOINT_PATHS = {
  token: '/token',
  device_authorization: '/device/auth',
  introspection: '/token/introspection',
  revocation: '/token/revocation',
  userinfo: '/me',
};
let injections = [];
const FORM_PATHS = new Set(['/token', '/device/auth']);

// ---------------------------------------------------------------- HTML (device pages)
// Kept small; each page carries a marker attribute that approve.js reads.
const page = (title, state, inner, err) => `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>${title}</title></head>
<body><div data-hubauth-test="${state}"${err ? ` data-error="${esc(err.error)}" data-error-description="${esc(err.error_description || '')}"` : ''}>
<h1>${title}</h1>
${inner}
</div></body></html>`;
function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// ---------------------------------------------------------------- provider config
// A fixed signing key, used only by this loopback test server. Generating one
// at each start (generateKeyPairSync + JWK export) can deadlock Node 20: a GC
// during the export runs the key-generation job's destructor, which waits for
// the mutex the export holds.
const jwk = JSON.parse(fs.readFileSync(new URL('./test-signing-key.json', import.meta.url), 'utf8'));

const configuration = {
  clients: [
    {
      client_id: 'hubauth-public',
      client_name: 'hubauth public test client',
      token_endpoint_auth_method: 'none',
      application_type: 'native',
      grant_types: [DEVICE_CODE, 'refresh_token', TOKEN_EXCHANGE],
      response_types: [],
      redirect_uris: [],
    },
    {
      client_id: 'hubauth-confidential',
      client_secret: 'hubauth-secret',
      client_name: 'hubauth confidential test client',
      // oidc-provider accepts client_secret_basic and client_secret_post for
      // either value (client_secret_* are interchangeable).
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['client_credentials', DEVICE_CODE, 'refresh_token', TOKEN_EXCHANGE],
      response_types: [],
      redirect_uris: [],
    },
    {
      // The browser login (authorization code + PKCE, RFC 8252): a native
      // client's loopback redirect URI matches on any port (oidc-provider's
      // Client#redirectUriAllowed strips the port of http://127.0.0.1 URIs
      // for application_type native), and a public client must use PKCE.
      client_id: 'hubauth-native',
      client_name: 'hubauth native test client',
      token_endpoint_auth_method: 'none',
      application_type: 'native',
      grant_types: ['authorization_code', 'refresh_token', DEVICE_CODE],
      response_types: ['code'],
      redirect_uris: ['http://127.0.0.1/callback'],
    },
  ].map((c) => (opts.deviceFlow ? c : { ...c, grant_types: c.grant_types.filter((g) => g !== DEVICE_CODE) })),
  clientAuthMethods: ['none', 'client_secret_basic', 'client_secret_post'],
  async findAccount(ctx, id) {
    const acc = ACCOUNTS[id];
    if (!acc) return undefined;
    return { accountId: id, async claims() { return { ...acc }; } };
  },
  // `openid` alone already yields the account's name/username/email at
  // userinfo, so a token with scope "openid offline_access" identifies its user.
  claims: {
    openid: ['sub', 'name', 'preferred_username', 'email'],
    profile: ['name', 'preferred_username'],
    email: ['email', 'email_verified'],
  },
  scopes: SCOPES,
  jwks: { keys: [jwk] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  features: {
    devInteractions: { enabled: false },
    deviceFlow: {
      enabled: opts.deviceFlow,
      async userCodeInputSource(ctx, form, out, err) {
        if (err?.name === 'AbortedError') {
          ctx.body = page('Aborted', 'aborted', form);
        } else if (out) {
          ctx.body = page('Error', 'error', form, out);
        } else {
          ctx.body = page('Enter code', 'input', form);
        }
      },
      async userCodeConfirmSource(ctx, form, client, deviceInfo, userCode) {
        ctx.body = page('Confirm device', 'confirm', `${form}<p>${esc(client.clientId)} ${esc(userCode)}</p>
<button type="submit" form="op.deviceConfirmForm">Continue</button>
<button type="submit" form="op.deviceConfirmForm" value="yes" name="abort">Abort</button>`);
      },
      async successSource(ctx) {
        ctx.body = page('Sign-in success', 'success', '');
      },
    },
    clientCredentials: { enabled: true },
    introspection: {
      enabled: true,
      // Same rule as the library default, without its "should change" warning:
      // a public client may introspect only its own tokens, a confidential
      // client any token.
      async allowedPolicy(ctx, client, token) {
        if (client.clientAuthMethod === 'none' && token.clientId !== client.clientId) return false;
        return true;
      },
    },
    revocation: {
      enabled: opts.revocation,
      // Library default: only the client the token was issued to may revoke it.
      async allowedPolicy(ctx, client, token) {
        if (token.clientId !== client.clientId) {
          if (client.clientAuthMethod === 'none') return false;
          throw new errors.InvalidRequest('client is not authorized to revoke the presented token');
        }
        return true;
      },
    },
    userinfo: { enabled: true },
  },
  rotateRefreshToken: true,
  // Default 15 s: userinfo would still accept an access token 15 s after its
  // exp while introspection already says active:false. 0 makes both strict.
  clockTolerance: 0,
  ttl: {
    AccessToken: opts.accessTtl,
    ClientCredentials: opts.accessTtl,
    RefreshToken: opts.refreshTtl,
    DeviceCode: 600,
    Grant: Math.max(opts.refreshTtl, 14 * 24 * 3600),
    Session: 14 * 24 * 3600,
    Interaction: 3600,
    IdToken: 3600,
  },
  async renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = page('Error', 'error', '', out);
  },
  // Keep the grant (and with it every token) when the client revokes one
  // access token; revoking a refresh token revokes the grant (default).
  revokeGrantPolicy(ctx) {
    return !(ctx.oidc.route === 'revocation' && ctx.oidc.entities.AccessToken);
  },
};

// ---------------------------------------------------------------- start
const server = http.createServer();
server.listen(opts.port, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, configuration);
  setup(provider, issuer);
  server.on('request', provider.callback());
  process.stdout.write(`ISSUER=${issuer}\n`);
});
server.on('error', (err) => {
  process.stderr.write(`server.js: ${err.message}\n`);
  process.exit(1);
});

function shutdown() {
  server.close();
  server.closeAllConnections?.();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
if (!opts.ignoreStdin) {
  process.stdin.on('end', shutdown);
  process.stdin.on('close', shutdown);
  process.stdin.on('error', shutdown);
  process.stdin.resume();
}

// ---------------------------------------------------------------- routes
async function readJson(ctx) {
  const chunks = [];
  for await (const c of ctx.req) chunks.push(c);
  const raw = Buffer.concat(chunks).toString('utf8').trim();
  if (!raw) return {};
  if (ctx.is('application/x-www-form-urlencoded')) return Object.fromEntries(new URLSearchParams(raw));
  return JSON.parse(raw);
}

let knownScopes;

function setup(provider, issuer) {
  knownScopes = instance(provider).configuration.scopes;
  if (!(knownScopes instanceof Set)) throw new Error('oidc-provider internals changed: configuration.scopes is not a Set');
  // -- events -> counters
  const grantType = (ctx) => ctx.state.form?.get('grant_type') ?? ctx.oidc?.params?.grant_type;
  provider.on('grant.success', (ctx) => {
    if (grantType(ctx) === 'refresh_token') stats.refresh_success += 1;
  });
  provider.on('grant.error', (ctx, err) => {
    if (grantType(ctx) === 'refresh_token') {
      stats.refresh_errors += 1;
      if (err.error_detail === 'refresh token already used') stats.refresh_reuse += 1;
    }
  });
  provider.on('grant.revoked', () => { stats.grants_revoked += 1; });
  provider.on('refresh_token.consumed', () => { stats.refresh_tokens_consumed += 1; });
  provider.on('server_error', (ctx, err) => {
    process.stderr.write(`server.js: server_error at ${ctx.method} ${ctx.path}: ${err.stack || err}\n`);
  });

  // -- token exchange (RFC 8693): PAT -> access token, no refresh token
  provider.registerGrantType(TOKEN_EXCHANGE, async (ctx) => {
    const {
      subject_token: subjectToken, subject_token_type: subjectTokenType,
      requested_token_type: requested, scope: reqScope,
    } = ctx.oidc.params;
    if (!subjectToken) throw new errors.InvalidRequest("missing required parameter 'subject_token'");
    if (!subjectTokenType) throw new errors.InvalidRequest("missing required parameter 'subject_token_type'");
    if (subjectTokenType !== TT_PAT) {
      throw new errors.InvalidRequest(`unsupported subject_token_type (only ${TT_PAT})`);
    }
    if (requested && requested !== TT_ACCESS) {
      throw new errors.InvalidRequest(`unsupported requested_token_type (only ${TT_ACCESS})`);
    }
    const pat = PATS.get(subjectToken);
    if (!pat) throw new errors.InvalidGrant('unknown personal access token');

    const { client } = ctx.oidc;
    const scope = [...new Set((reqScope || pat.scope).split(' ').filter(Boolean))].join(' ');

    const grant = new provider.Grant({ accountId: pat.accountId, clientId: client.clientId });
    grant.addOIDCScope(scope);
    const grantId = await grant.save();

    const at = new provider.AccessToken({
      accountId: pat.accountId,
      client,
      grantId,
      gty: 'token_exchange',
      scope,
    });
    ctx.oidc.entity('AccessToken', at);
    const value = await at.save();

    ctx.body = {
      access_token: value,
      issued_token_type: TT_ACCESS,
      token_type: 'Bearer',
      expires_in: at.expiration,
      scope,
    };
  }, ['subject_token', 'subject_token_type', 'requested_token_type', 'scope', 'audience', 'resource', 'actor_token', 'actor_token_type']);

  // -- read the form of POST /token and /device/auth first (then hand the same
  //    bytes to oidc-provider), so that the grant_type is known to the
  //    injections and counters below, and so that every requested scope can
  //    be made a known scope before oidc-provider filters unknown ones out.
  provider.use(async (ctx, next) => {
    if (ctx.method !== 'POST' || !FORM_PATHS.has(ctx.path) || !ctx.is('application/x-www-form-urlencoded')) {
      return next();
    }
    const chunks = [];
    for await (const c of ctx.req) chunks.push(c);
    const raw = Buffer.concat(chunks);
    // oidc-provider reads the body with req.readable + req.iterator()
    Object.defineProperty(ctx.req, 'readable', { value: true, configurable: true });
    ctx.req.iterator = async function* replay() { yield raw; };
    ctx.state.form = new URLSearchParams(raw.toString('utf8'));
    for (const scope of (ctx.state.form.get('scope') || '').split(' ')) {
      if (scope && /^[\x21\x23-\x5B\x5D-\x7E]+$/.test(scope)) knownScopes.add(scope);
    }
    return next();
  });

  // -- made-up error answers (POST /_test/inject)
  provider.use(async (ctx, next) => {
    if (ctx.method !== 'POST' && ctx.path !== '/me') return next();
    const gt = ctx.state.form?.get('grant_type');
    const inj = injections.find((i) => i.path === ctx.path && (!i.grant_type || i.grant_type === gt));
    if (!inj) return next();
    inj.count -= 1;
    if (inj.count <= 0) injections = injections.filter((i) => i !== inj);
    if (inj.after) {
      // The server acts (a refresh token rotates, a token is minted), then the
      // reply is lost on the way: a gateway answers instead.
      await next();
      stats.lost_replies += 1;
      ctx.status = inj.status;
      ctx.set('cache-control', 'no-store');
      ctx.type = 'text/html';
      ctx.body = '<html><body>Bad Gateway</body></html>';
      return undefined;
    }
    if (inj.path === '/token') {
      bump(stats.token_requests, gt || 'unknown');
      bump(stats.token_errors, gt || 'unknown');
    }
    bump(stats.injected, inj.error);
    ctx.status = inj.status;
    ctx.set('cache-control', 'no-store');
    ctx.body = { error: inj.error, error_description: inj.error_description };
    return undefined;
  });

  // -- every token issued goes to $HUBAUTH_TRANSCRIPT_TOKENS (when set), so
  //    the test suite can prove no token ever appears in hubauth's messages
  function recordSecrets(body) {
    const file = process.env.HUBAUTH_TRANSCRIPT_TOKENS;
    if (!file || !body || typeof body !== 'object') return;
    const values = ['access_token', 'refresh_token', 'id_token']
      .map((k) => body[k]).filter((v) => typeof v === 'string');
    if (values.length) fs.appendFileSync(file, values.map((v) => `${v}\n`).join(''));
  }

  // -- counters around the endpoints (runs outside oidc-provider's router)
  provider.use(async (ctx, next) => {
    const post = ctx.method === 'POST';
    if (post && ctx.path === '/token') {
      await next();
      const gt = ctx.state.form?.get('grant_type') || 'unknown';
      bump(stats.token_requests, gt);
      if (ctx.status === 200) {
        recordSecrets(ctx.body);
        bump(stats.token_success, gt);
        if (gt === TOKEN_EXCHANGE) stats.exchange_success += 1;
      } else {
        bump(stats.token_errors, gt);
        if (ctx.body?.error) bump(stats.errors, ctx.body.error);
        if (gt === TOKEN_EXCHANGE) stats.exchange_errors += 1;
      }
      return;
    }
    if (post && ctx.path === '/device/auth') {
      await next();
      if (ctx.status === 200) {
        stats.device_authorizations += 1;
        // oidc-provider's reply has no `interval` (clients then use 5 s)
        if (opts.deviceInterval !== undefined && ctx.body && typeof ctx.body === 'object') {
          ctx.body = { ...ctx.body, interval: opts.deviceInterval };
        }
        // RFC 8628 §3.2: verification_uri_complete is OPTIONAL; servers
        // such as GitHub's never send it.
        if (!opts.verificationUriComplete && ctx.body && typeof ctx.body === 'object') {
          const { verification_uri_complete: _dropped, ...rest } = ctx.body;
          ctx.body = rest;
        }
      }
      return;
    }
    // --revocation-in-rfc8414: the OpenID document names no
    // revocation_endpoint, the RFC 8414 metadata does (as servers that
    // publish the two documents separately may).
    if (opts.revocationInRfc8414 && ctx.method === 'GET' && ctx.path === '/.well-known/openid-configuration') {
      await next();
      if (ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
        const { revocation_endpoint: _moved, ...rest } = ctx.body;
        ctx.body = rest;
      }
      return;
    }
    if (opts.revocationInRfc8414 && ctx.method === 'GET' && ctx.path === '/.well-known/oauth-authorization-server') {
      ctx.type = 'json';
      ctx.body = {
        issuer,
        token_endpoint: `${issuer}/token`,
        revocation_endpoint: `${issuer}/token/revocation`,
        revocation_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post'],
      };
      return;
    }
    if (post && ctx.path === '/token/introspection') {
      await next();
      stats.introspection_requests += 1;
      if (ctx.body?.active) stats.introspection_active += 1;
      return;
    }
    if (post && ctx.path === '/token/revocation') {
      await next();
      stats.revocation_requests += 1;
      return;
    }
    if (ctx.path === '/me') {
      await next();
      stats.userinfo_requests += 1;
      return;
    }
    if (post && ctx.path === '/device') {
      await next();
      if (typeof ctx.body === 'string' && ctx.body.includes('data-hubauth-test="aborted"')) stats.device_denied += 1;
      return;
    }
    await next();
  });

  // -- the user step: log in an account and grant every requested scope
  provider.use(async (ctx, next) => {
    const m = /^\/interaction\/([^/]+)$/.exec(ctx.path);
    if (!m || ctx.method !== 'GET') return next();
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    const accountId = ACCOUNTS[ctx.cookies.get('_test_account')] ? ctx.cookies.get('_test_account') : 'alice';
    const { params, prompt } = details;
    const clientId = params.client_id;

    let grant;
    const existing = details.grantId && prompt?.name !== 'login' ? await provider.Grant.find(details.grantId) : undefined;
    if (existing && existing.accountId === accountId) grant = existing;
    else grant = new provider.Grant({ accountId, clientId });

    const scope = [...new Set(['openid', ...String(params.scope || '').split(' ').filter(Boolean)])].join(' ');
    grant.addOIDCScope(scope);
    const missingClaims = prompt?.details?.missingOIDCClaims;
    if (missingClaims?.length) grant.addOIDCClaims(missingClaims);
    for (const [indicator, scopes] of Object.entries(prompt?.details?.missingResourceScopes || {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();

    const returnTo = await provider.interactionResult(ctx.req, ctx.res, {
      login: { accountId },
      consent: { grantId },
    }, { mergeWithLastSubmission: false });
    stats.device_approved += 1;
    ctx.status = 303;
    ctx.redirect(returnTo);
  });

  // -- test control endpoints
  provider.use(async (ctx, next) => {
    if (!ctx.path.startsWith('/_test/')) return next();
    ctx.set('cache-control', 'no-store');
    const route = `${ctx.method} ${ctx.path}`;
    try {
      switch (route) {
        case 'GET /_test/stats':
          ctx.body = stats;
          return;
        case 'POST /_test/reset-stats':
          stats = freshStats();
          injections = [];
          ctx.body = stats;
          return;
        case 'POST /_test/inject': {
          const body = await readJson(ctx);
          const path = ENDPOINT_PATHS[body.endpoint || 'token'];
          if (!path) throw new Error(`endpoint must be one of ${Object.keys(ENDPOINT_PATHS).join(', ')}`);
          const status = Number(body.status || 400);
          const inj = {
            path,
            grant_type: body.grant_type,
            error: body.error || (status >= 500 ? 'server_error' : 'invalid_request'),
            error_description: body.error_description || 'injected by /_test/inject',
            status,
            count: Number(body.count || 1),
            after: Boolean(body.after),
          };
          injections.push(inj);
          ctx.body = { ok: true, pending: injections.length };
          return;
        }
        case 'POST /_test/pat': {
          const body = await readJson(ctx);
          const accountId = body.account || body.accountId || 'alice';
          if (!ACCOUNTS[accountId]) {
            ctx.status = 400;
            ctx.body = { error: 'invalid_request', error_description: `unknown account ${accountId}` };
            return;
          }
          const pat = `pat-${accountId}-${randomBytes(16).toString('hex')}`;
          PATS.set(pat, { accountId, scope: body.scope || 'credentials' });
          ctx.body = { pat, account: accountId };
          return;
        }
        case 'POST /_test/browse': {
          const body = await readJson(ctx);
          if (!body.url) {
            ctx.status = 400;
            ctx.body = { error: 'invalid_request', error_description: 'url is required' };
            return;
          }
          ctx.body = await browse({
            issuer, url: body.url, account: body.account, deliver: body.deliver !== false,
          });
          return;
        }
        case 'POST /_test/approve': {
          const body = await readJson(ctx);
          const userCode = body.user_code || body.userCode;
          if (!userCode) {
            ctx.status = 400;
            ctx.body = { error: 'invalid_request', error_description: 'user_code is required' };
            return;
          }
          const deny = body.deny === true || body.deny === 'true' || body.deny === 'yes';
          const r = await approve({
            issuer, userCode, deny, account: body.account,
          });
          ctx.status = r.ok ? 200 : 400;
          ctx.body = r.ok ? { ok: true, result: r.state } : { ok: false, error: r.state, error_description: r.message };
          return;
        }
        default:
          ctx.status = 404;
          ctx.body = { error: 'not_found' };
      }
    } catch (err) {
      ctx.status = 400;
      ctx.body = { error: 'invalid_request', error_description: err.message };
    }
  });
}
