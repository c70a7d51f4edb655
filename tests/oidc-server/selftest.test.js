// Self-test of the test server: node --test tests/oidc-server/selftest.test.js
// (or: npm test --prefix tests/oidc-server). Takes a few seconds.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';

const DIR = fileURLToPath(new URL('.', import.meta.url));
const ACCESS_TTL = 2;
const PUB = 'hubauth-public';
const CONF = 'hubauth-confidential';
const SECRET = 'hubauth-secret';
const DEVICE = 'urn:ietf:params:oauth:grant-type:device_code';
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const PAT_TYPE = 'urn:ietf:params:oauth:token-type:pat';
const BASIC = `Basic ${Buffer.from(`${CONF}:${SECRET}`).toString('base64')}`;

let child;
let issuer;
let disco;

before(async () => {
  child = spawn(process.execPath, ['server.js', '--port', '0', '--access-ttl', String(ACCESS_TTL), '--device-interval', '1'], {
    cwd: DIR, stdio: ['pipe', 'pipe', 'inherit'],
  });
  const rl = createInterface({ input: child.stdout });
  const [line] = await once(rl, 'line');
  assert.match(line, /^ISSUER=http:\/\/127\.0\.0\.1:\d+$/);
  issuer = line.slice('ISSUER='.length);
  disco = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();
});

after(async () => {
  // closing stdin is the documented way to stop it
  child.stdin.end();
  const [code] = await once(child, 'exit');
  assert.equal(code, 0);
});

async function form(url, params, headers = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(params).toString(),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}
const token = (params, headers) => form(disco.token_endpoint, params, headers);
const introspect = (tok, client = { client_id: PUB }) => form(disco.introspection_endpoint, { token: tok, ...client });
const revoke = (tok, client = { client_id: PUB }) => form(disco.revocation_endpoint, { token: tok, ...client });
async function postJson(path, body) {
  const res = await fetch(`${issuer}${path}`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body ?? {}),
  });
  return { status: res.status, body: await res.json() };
}
const stats = async () => (await fetch(`${issuer}/_test/stats`)).json();
const sleep = (ms) => new Promise((r) => { setTimeout(r, ms); });

async function runApproveCli(args) {
  const p = spawn(process.execPath, ['approve.js', ...args], { cwd: DIR, stdio: ['ignore', 'inherit', 'pipe'] });
  let err = '';
  p.stderr.on('data', (d) => { err += d; });
  const [code] = await once(p, 'exit');
  return { code, err };
}

// device flow up to the tokens; `approveWith` is 'http' (POST /_test/approve) or 'cli' (approve.js)
async function deviceLogin({ scope = 'openid offline_access credentials', client = { client_id: PUB }, approveWith = 'http' } = {}) {
  const da = await form(disco.device_authorization_endpoint, { scope, ...client });
  assert.equal(da.status, 200, JSON.stringify(da.body));
  assert.equal(da.body.interval, 1);
  const poll = () => token({ grant_type: DEVICE, device_code: da.body.device_code, ...client });
  const pending = await poll();
  assert.equal(pending.status, 400);
  assert.equal(pending.body.error, 'authorization_pending');
  if (approveWith === 'cli') {
    const r = await runApproveCli([da.body.verification_uri_complete]);
    assert.equal(r.code, 0, r.err);
  } else {
    // lower case, no dash: must work as well
    const r = await postJson('/_test/approve', { user_code: da.body.user_code.replace('-', '').toLowerCase() });
    assert.equal(r.status, 200, JSON.stringify(r.body));
  }
  const t = await poll();
  assert.equal(t.status, 200, JSON.stringify(t.body));
  return t.body;
}

test('discovery lists every endpoint hubauth uses', () => {
  for (const k of ['token_endpoint', 'device_authorization_endpoint', 'introspection_endpoint', 'revocation_endpoint', 'userinfo_endpoint']) {
    assert.ok(disco[k]?.startsWith(issuer), k);
  }
  assert.ok(disco.grant_types_supported.includes(EXCHANGE));
  assert.ok(disco.scopes_supported.includes('credentials'));
});

test('device flow with offline_access gives a refresh token; userinfo and introspection work', async () => {
  const t = await deviceLogin({ approveWith: 'cli' });
  assert.ok(t.access_token && t.refresh_token && t.id_token);
  assert.equal(t.token_type, 'Bearer');
  assert.equal(t.expires_in, ACCESS_TTL);
  assert.equal(t.scope, 'openid offline_access credentials');
  const ui = await fetch(disco.userinfo_endpoint, { headers: { authorization: `Bearer ${t.access_token}` } });
  assert.equal(ui.status, 200);
  assert.deepEqual(await ui.json(), {
    sub: 'alice', name: 'Alice Example', preferred_username: 'alice', email: 'alice@example.com',
  });
  const i = await introspect(t.access_token);
  assert.equal(i.body.active, true);
  assert.equal(i.body.sub, 'alice');
  assert.equal(i.body.client_id, PUB);
  const ir = await introspect(t.refresh_token);
  assert.equal(ir.body.active, true);
});

test('device flow without offline_access: no refresh token; unknown scopes are granted too', async () => {
  const t = await deviceLogin({ scope: 'openid credentials read:packages' });
  assert.ok(t.access_token);
  assert.equal(t.refresh_token, undefined);
  assert.equal(t.scope, 'openid credentials read:packages');
});

test('device flow for the confidential client', async () => {
  const t = await deviceLogin({ scope: 'offline_access credentials', client: { client_id: CONF, client_secret: SECRET } });
  assert.ok(t.access_token && t.refresh_token);
  assert.equal(t.id_token, undefined);
  const r = await token({ grant_type: 'refresh_token', refresh_token: t.refresh_token, scope: 'credentials' }, { authorization: BASIC });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.scope, 'credentials');
});

test('device flow denied gives access_denied', async () => {
  const da = await form(disco.device_authorization_endpoint, { client_id: PUB, scope: 'openid offline_access' });
  const r = await runApproveCli([da.body.user_code, '--deny', '--issuer', issuer]);
  assert.equal(r.code, 0, r.err);
  const t = await token({ grant_type: DEVICE, device_code: da.body.device_code, client_id: PUB });
  assert.equal(t.status, 400);
  assert.equal(t.body.error, 'access_denied');
  const da2 = await form(disco.device_authorization_endpoint, { client_id: PUB, scope: 'openid offline_access' });
  const r2 = await postJson('/_test/approve', { user_code: da2.body.user_code, deny: true });
  assert.equal(r2.status, 200, JSON.stringify(r2.body));
  const t2 = await token({ grant_type: DEVICE, device_code: da2.body.device_code, client_id: PUB });
  assert.equal(t2.body.error, 'access_denied');
  assert.ok((await stats()).device_denied >= 2);
  // an unknown code fails
  const bad = await postJson('/_test/approve', { user_code: 'BCDF-GHJK' });
  assert.equal(bad.status, 400);
});

test('refresh rotates; reusing the old refresh token revokes the whole grant', async () => {
  const t0 = await deviceLogin();
  const r1 = await token({ grant_type: 'refresh_token', refresh_token: t0.refresh_token, client_id: PUB });
  assert.equal(r1.status, 200, JSON.stringify(r1.body));
  assert.ok(r1.body.refresh_token && r1.body.refresh_token !== t0.refresh_token);
  assert.ok(r1.body.access_token && r1.body.access_token !== t0.access_token);
  const before = await stats();
  const reuse = await token({ grant_type: 'refresh_token', refresh_token: t0.refresh_token, client_id: PUB });
  assert.equal(reuse.status, 400);
  assert.equal(reuse.body.error, 'invalid_grant');
  assert.equal(reuse.body.error_description, 'grant request is invalid');
  // the newer refresh token and the access tokens of the grant are gone too
  const r2 = await token({ grant_type: 'refresh_token', refresh_token: r1.body.refresh_token, client_id: PUB });
  assert.equal(r2.status, 400);
  assert.equal(r2.body.error, 'invalid_grant');
  assert.equal((await introspect(r1.body.access_token)).body.active, false);
  const s = await stats();
  assert.equal(s.refresh_reuse, before.refresh_reuse + 1);
  assert.equal(s.grants_revoked, before.grants_revoked + 1);
  assert.equal(s.refresh_errors, before.refresh_errors + 2);
});

test('token exchange of a personal access token', async () => {
  const ex = await token({
    grant_type: EXCHANGE, client_id: PUB, subject_token: 'pat-alice-0123456789', subject_token_type: PAT_TYPE, scope: 'credentials',
  });
  assert.equal(ex.status, 200, JSON.stringify(ex.body));
  assert.deepEqual(Object.keys(ex.body).sort(), ['access_token', 'expires_in', 'issued_token_type', 'scope', 'token_type']);
  assert.equal(ex.body.issued_token_type, 'urn:ietf:params:oauth:token-type:access_token');
  assert.equal(ex.body.scope, 'credentials');
  assert.equal(ex.body.expires_in, ACCESS_TTL);
  const i = await introspect(ex.body.access_token);
  assert.equal(i.body.active, true);
  assert.equal(i.body.sub, 'alice');

  const bad = await token({
    grant_type: EXCHANGE, client_id: PUB, subject_token: 'pat-nope', subject_token_type: PAT_TYPE, scope: 'credentials',
  });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error, 'invalid_grant');

  const made = await postJson('/_test/pat', { account: 'bob' });
  assert.equal(made.status, 200);
  const ex2 = await token({
    grant_type: EXCHANGE, client_id: CONF, client_secret: SECRET, subject_token: made.body.pat, subject_token_type: PAT_TYPE, scope: 'credentials',
  });
  assert.equal(ex2.status, 200, JSON.stringify(ex2.body));
  assert.equal((await introspect(ex2.body.access_token, { client_id: CONF, client_secret: SECRET })).body.sub, 'bob');
});

test('client credentials for the confidential client only', async () => {
  const basic = await token({ grant_type: 'client_credentials', scope: 'credentials' }, { authorization: BASIC });
  assert.equal(basic.status, 200, JSON.stringify(basic.body));
  assert.equal(basic.body.refresh_token, undefined);
  assert.equal(basic.body.expires_in, ACCESS_TTL);
  const post = await token({ grant_type: 'client_credentials', client_id: CONF, client_secret: SECRET });
  assert.equal(post.status, 200, JSON.stringify(post.body));
  const wrong = await token({ grant_type: 'client_credentials', client_id: CONF, client_secret: 'nope' });
  assert.equal(wrong.status, 401);
  assert.equal(wrong.body.error, 'invalid_client');
  const pub = await token({ grant_type: 'client_credentials', client_id: PUB });
  assert.equal(pub.status, 400);
  assert.equal(pub.body.error, 'invalid_request'); // oidc-provider's choice, not unauthorized_client
  assert.equal(pub.body.error_description, 'requested grant type is not allowed for this client');
  const i = await form(disco.introspection_endpoint, { token: basic.body.access_token }, { authorization: BASIC });
  assert.equal(i.body.active, true);
  assert.equal(i.body.client_id, CONF);
});

test('introspection: active false for junk, other clients\' tokens (public caller) and expired tokens', async () => {
  assert.deepEqual((await introspect('junk')).body, { active: false });
  const cc = await token({ grant_type: 'client_credentials' }, { authorization: BASIC });
  assert.deepEqual((await introspect(cc.body.access_token)).body, { active: false });
  const t = await deviceLogin();
  // the confidential client may introspect the public client's token
  assert.equal((await introspect(t.access_token, { client_id: CONF, client_secret: SECRET })).body.active, true);
  await sleep(ACCESS_TTL * 1000 + 100);
  assert.deepEqual((await introspect(t.access_token)).body, { active: false });
  const ui = await fetch(disco.userinfo_endpoint, { headers: { authorization: `Bearer ${t.access_token}` } });
  assert.equal(ui.status, 401);
  // the refresh token still works after the access token expired
  const r = await token({ grant_type: 'refresh_token', refresh_token: t.refresh_token, client_id: PUB });
  assert.equal(r.status, 200, JSON.stringify(r.body));
});

test('revocation (RFC 7009) by the public client kills the grant', async () => {
  const t = await deviceLogin();
  const rv = await revoke(t.refresh_token);
  assert.equal(rv.status, 200);
  assert.equal((await introspect(t.refresh_token)).body.active, false);
  assert.equal((await introspect(t.access_token)).body.active, false);
  const r = await token({ grant_type: 'refresh_token', refresh_token: t.refresh_token, client_id: PUB });
  assert.equal(r.body.error, 'invalid_grant');
  // unknown tokens: 200 as well
  assert.equal((await revoke('junk')).status, 200);
  // the confidential client may revoke its own tokens, not other clients'
  const cc = await token({ grant_type: 'client_credentials' }, { authorization: BASIC });
  const t2 = await deviceLogin();
  const other = await revoke(t2.access_token, { client_id: CONF, client_secret: SECRET });
  assert.equal(other.status, 400);
  assert.equal((await revoke(cc.body.access_token, { client_id: CONF, client_secret: SECRET })).status, 200);
  assert.equal((await introspect(cc.body.access_token, { client_id: CONF, client_secret: SECRET })).body.active, false);
});

test('injected errors and stats', async () => {
  await postJson('/_test/reset-stats');
  const s0 = await stats();
  assert.deepEqual(s0.token_requests, {});
  const da = await form(disco.device_authorization_endpoint, { client_id: PUB, scope: 'openid' });
  const inj = await postJson('/_test/inject', { endpoint: 'token', grant_type: DEVICE, error: 'slow_down', count: 1 });
  assert.equal(inj.status, 200);
  const poll = () => token({ grant_type: DEVICE, device_code: da.body.device_code, client_id: PUB });
  assert.equal((await poll()).body.error, 'slow_down');
  assert.equal((await poll()).body.error, 'authorization_pending');
  const s = await stats();
  assert.equal(s.token_requests[DEVICE], 2);
  assert.equal(s.token_errors[DEVICE], 2);
  assert.equal(s.injected.slow_down, 1);
  assert.equal(s.errors.authorization_pending, 1);
  assert.equal(s.device_authorizations, 1);
});
