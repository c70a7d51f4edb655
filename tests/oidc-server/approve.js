#!/usr/bin/env node
// The device-flow user step without a browser (RFC 8628 §3.3), over plain HTTP.
//
//   node approve.js <verification_uri_complete | user_code> [--deny]
//                   [--issuer URL] [--account alice|bob]
//
// A bare user_code needs --issuer (or $OIDC_ISSUER).
// GET /device (keeps the cookies), reads the hidden `xsrf` field, POSTs
// xsrf + user_code + confirm=yes (or abort=yes with --deny) to /device and
// follows the redirects (/interaction/:uid is answered by server.js, which
// logs in the account and grants every requested scope). Exit 0 on success.
//
// Also imported by server.js for POST /_test/approve.

import { pathToFileURL } from 'node:url';

// Minimal cookie jar: name -> value; every cookie is sent on every request
// to the one origin we talk to (cookie names of oidc-provider do not clash).
class Jar {
  constructor() { this.cookies = new Map(); }

  take(res) {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const i = pair.indexOf('=');
      if (i < 0) continue;
      const name = pair.slice(0, i).trim();
      const value = pair.slice(i + 1).trim();
      const expired = attrs.some((a) => {
        const [k, v] = a.split('=').map((s) => s?.trim());
        if (/^max-age$/i.test(k)) return Number(v) <= 0;
        if (/^expires$/i.test(k)) return Date.parse(v) <= Date.now();
        return false;
      });
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  header() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

async function request(jar, url, init = {}) {
  const headers = { ...(init.headers || {}) };
  const cookie = jar.header();
  if (cookie) headers.cookie = cookie;
  const res = await fetch(url, { ...init, headers, redirect: 'manual' });
  jar.take(res);
  return res;
}

// Follows redirects by hand (so each hop's Set-Cookie lands in the jar).
async function follow(jar, url, init) {
  let res = await request(jar, url, init);
  for (let hops = 0; res.status >= 300 && res.status < 400; hops += 1) {
    if (hops > 10) throw new Error('too many redirects');
    const next = new URL(res.headers.get('location'), url);
    await res.arrayBuffer();
    url = next.href;
    res = await request(jar, url, { method: 'GET' });
  }
  return { res, url, body: await res.text() };
}

function marker(body) {
  const m = /data-hubauth-test="([^"]*)"(?:\s+data-error="([^"]*)")?(?:\s+data-error-description="([^"]*)")?/.exec(body);
  return m ? { state: m[1], error: m[2], description: m[3] } : undefined;
}

/**
 * Performs the user step for one device code.
 * @param {object} o
 * @param {string} o.issuer       e.g. http://127.0.0.1:PORT
 * @param {string} o.userCode     with or without the dash, any case
 * @param {boolean} [o.deny]      abort=yes instead of confirm=yes
 * @param {string} [o.account]    account that logs in (default alice)
 * @returns {Promise<{ok: boolean, state: string, message?: string}>}
 */
export async function approve({ issuer, userCode, deny = false, account }) {
  if (!issuer) throw new Error('no issuer: pass a verification_uri_complete or --issuer');
  if (!userCode) throw new Error('no user_code');
  const base = issuer.replace(/\/+$/, '');
  const jar = new Jar();
  if (account) jar.cookies.set('_test_account', account);

  const page = await request(jar, `${base}/device`);
  const html = await page.text();
  if (page.status !== 200) throw new Error(`GET /device: HTTP ${page.status}`);
  const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)?.[1];
  if (!xsrf) throw new Error('GET /device: no xsrf field');

  const form = new URLSearchParams({ xsrf, user_code: userCode });
  form.set(deny ? 'abort' : 'confirm', 'yes');
  const { res, url, body } = await follow(jar, `${base}/device`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: form.toString(),
  });

  const m = marker(body);
  if (res.status === 200 && m?.state === 'success' && !deny) return { ok: true, state: 'approved' };
  if (res.status === 200 && m?.state === 'aborted' && deny) return { ok: true, state: 'denied' };
  const why = m?.error ? [m.error, m.description].filter(Boolean).join(': ') : `HTTP ${res.status} at ${url}`;
  return { ok: false, state: m?.state || 'error', message: why };
}

/**
 * Plays the browser of a browser login (authorization code flow): opens the
 * authorization URL, follows the issuer's redirects with a cookie jar (the
 * /interaction/:uid step of server.js logs the account in and consents), and
 * stops at the first redirect that leaves the issuer's origin: the client's
 * redirect URI with `code` and `state` (or `error`).
 * @param {object} o
 * @param {string} o.issuer
 * @param {string} o.url        the authorization URL the client produced
 * @param {string} [o.account]  account that logs in (default alice)
 * @param {boolean} [o.deliver] also GET the redirect URI (default true), as a browser would
 * @returns {Promise<{location: string, status?: number, body?: string, error?: string}>}
 */
export async function browse({ issuer, url, account, deliver = true }) {
  const origin = new URL(issuer).origin;
  const jar = new Jar();
  if (account) jar.cookies.set('_test_account', account);
  let current = new URL(url, issuer).href;
  if (new URL(current).origin !== origin) throw new Error('the URL is not at the issuer');
  for (let hops = 0; hops < 12; hops += 1) {
    const res = await request(jar, current, { method: 'GET' });
    if (res.status < 300 || res.status >= 400) {
      const text = await res.text();
      return { location: current, status: res.status, error: `no redirect out of the issuer: ${text.slice(0, 300)}` };
    }
    await res.arrayBuffer();
    const next = new URL(res.headers.get('location'), current);
    if (next.origin !== origin) {
      if (!deliver) return { location: next.href };
      // The client's listener, without the issuer's cookies.
      const out = await fetch(next.href, { redirect: 'manual' });
      return { location: next.href, status: out.status, body: await out.text() };
    }
    current = next.href;
  }
  throw new Error('too many redirects');
}

function parseArgs(argv) {
  const out = { deny: false };
  const rest = [];
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i];
    if (a === '--deny') out.deny = true;
    else if (a === '--issuer') out.issuer = argv[++i];
    else if (a.startsWith('--issuer=')) out.issuer = a.slice(9);
    else if (a === '--account') out.account = argv[++i];
    else if (a.startsWith('--account=')) out.account = a.slice(10);
    else if (a === '-h' || a === '--help') out.help = true;
    else rest.push(a);
  }
  const [target] = rest;
  if (target && /^https?:\/\//.test(target)) {
    const u = new URL(target);
    out.userCode = u.searchParams.get('user_code') || undefined;
    // verification_uri_complete is <issuer>/device?user_code=...
    out.issuer ||= `${u.origin}${u.pathname.replace(/\/device\/?$/, '')}`;
  } else {
    out.userCode = target;
  }
  out.issuer ||= process.env.OIDC_ISSUER || process.env.ISSUER;
  return out;
}

const isMain = process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  const args = parseArgs(process.argv.slice(2));
  if (args.help || !args.userCode) {
    process.stderr.write('usage: node approve.js <verification_uri_complete | user_code> [--deny] [--issuer URL] [--account ID]\n');
    process.exit(2);
  }
  try {
    const r = await approve(args);
    if (!r.ok) {
      process.stderr.write(`approve.js: ${r.state}: ${r.message}\n`);
      process.exit(1);
    }
  } catch (err) {
    process.stderr.write(`approve.js: ${err.message}\n`);
    process.exit(1);
  }
}
