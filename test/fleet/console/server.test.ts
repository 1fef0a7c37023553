// The fleet console over plain HTTPS requests: login with password + TOTP, the security headers
// and cookie flags, roles, and bad input refused: a forged session, CSRF-less and cross-origin
// POSTs, SQL metacharacters in the search (shown escaped, harmless), a 10 MB query string,
// over-long bodies, path traversal, login throttling. The pages read a real file store filled by
// the collector core from a real device audit log.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect } from 'node:tls';
import { makeRig, opensslMissing, PASSWORD, type Rig } from './rig';

let rig: Rig | undefined;
test.before(async () => { if (!opensslMissing) rig = await makeRig(); });
test.after(async () => { await rig?.close(); });
const skip = (name: string) => { if (opensslMissing) { console.log(`SKIP ${name}: ${opensslMissing}`); return true; } return false; };

test('login with password and TOTP; pages carry CSP, HSTS and strict cookies; the fleet and the search show the store', async () => {
  if (skip('console login')) return;
  const r = rig!;
  const form = await r.req('GET', '/login');
  assert.is(form.status, 200);
  assert.match(String(form.headers['content-security-policy']), /default-src 'none'.*script-src 'self'/);
  assert.match(String(form.headers['strict-transport-security']), /max-age=\d+/);
  assert.is(form.headers['x-frame-options'], 'DENY');
  assert.match(String(form.headers['set-cookie']), /HttpOnly; SameSite=Strict; Path=\/; Secure/);
  const { cookie } = await r.login('viewer');
  const home = await r.req('GET', '/', { cookie });
  assert.is(home.status, 200);
  assert.match(home.body, /id="gw-lab-gw-a"[\s\S]*online/);
  assert.match(home.body, /id="gw-lab-gw-b"[\s\S]*OFFLINE[\s\S]*policy-expired/);
  const search = await r.req('GET', '/search?decision=deny&asset=plc-1', { cookie });
  assert.is(search.status, 200);
  assert.match(search.body, /10 record\(s\)/);
  assert.match(search.body, /function-not-allowed/);
  assert.match(search.body, /class="ok">verifies</, 'each result shows that its chain verifies');
  const denials = await r.req('GET', '/denials', { cookie });
  assert.match(denials.body, /<strong>10<\/strong> denials/);
  assert.match(denials.body, /<svg id="denials-chart"/);
  assert.match(denials.body, /href="\/denials\?[^"]*reason=function-not-allowed/, 'a legend entry narrows to its reason');
});

test('the gateway page and the vendor access page read the store', async () => {
  if (skip('console gateway and vendor pages')) return;
  const r = rig!;
  const { cookie } = await r.login('viewer');
  const gw = await r.req('GET', '/gateway?site=lab&device=gw-a', { cookie });
  assert.is(gw.status, 200);
  assert.match(gw.body, /id="chain"[\s\S]*seq 0\.\.\d+, last record[\s\S]*class="ok">verifies/);
  assert.match(gw.body, /modbus → plc-1:502/);
  const v = await r.req('GET', '/vendors', { cookie });
  assert.match(v.body, /id="vendor-access"[\s\S]*grant g-7 for acme-support activated/);
  assert.match(v.body, /acme-support[\s\S]*vendor-maintenance/, 'what the vendor did');
});

test('a wrong TOTP, a wrong password and an unknown user are all just "Login incorrect"; then throttled', async () => {
  if (skip('console throttling')) return;
  const r = rig!;
  const form = await r.req('GET', '/login');
  const c = String(form.headers['set-cookie']).split(';')[0];
  const csrf = c.split('=')[1];
  const tries = [{ user: 'admin', password: PASSWORD, totp: '000000' }, { user: 'admin', password: 'wrong', totp: '123456' }, { user: 'nobody', password: PASSWORD, totp: '123456' }];
  for (const t of tries) {
    const x = await r.req('POST', '/login', { cookie: c, form: { csrf, ...t } });
    assert.is(x.status, 401);
    assert.match(x.body, /Login incorrect/);
  }
  let last = 0;
  for (let i = 0; i < 4; i++) last = (await r.req('POST', '/login', { cookie: c, form: { csrf, user: 'admin', password: 'wrong', totp: '1' } })).status;
  assert.is(last, 429, 'the clock stands still: after 5 failures the next attempt waits');
  r.clock.t += 16 * 60_000;
});

test('a forged or stolen-elsewhere session cookie is no session', async () => {
  if (skip('console forged session')) return;
  const r = rig!;
  const forged = `zgf_session=${'A'.repeat(43)}`;
  const g = await r.req('GET', '/', { cookie: forged });
  assert.is(g.status, 303);
  assert.is(g.headers.location, '/login');
  const p = await r.req('POST', '/logout', { cookie: forged, form: { csrf: 'x' } });
  assert.is(p.status, 401);
  assert.ok(r.log.some((l) => /unknown or expired session cookie/.test(l)), 'refusals are logged');
});

test('POSTs without the CSRF token or from another origin are refused; viewers cannot publish, operators need a token too', async () => {
  if (skip('console CSRF')) return;
  const r = rig!;
  const viewer = await r.login('viewer');
  const noToken = await r.req('POST', '/logout', { cookie: viewer.cookie, form: {} });
  assert.is(noToken.status, 403);
  const otherOrigin = await r.req('POST', '/logout', { cookie: viewer.cookie, form: { csrf: viewer.csrf }, origin: 'https://evil.example' });
  assert.is(otherOrigin.status, 403);
  const loginNoCsrf = await r.req('POST', '/login', { form: { user: 'admin', password: PASSWORD, totp: '123456' } });
  assert.is(loginNoCsrf.status, 403);
  const mp = (csrf: string) => Buffer.from(`--b\r\ncontent-disposition: form-data; name="csrf"\r\n\r\n${csrf}\r\n--b\r\ncontent-disposition: form-data; name="site"\r\n\r\nlab\r\n--b\r\ncontent-disposition: form-data; name="bundle"; filename="x.bundle"\r\n\r\nxx\r\n--b--\r\n`);
  const viewerPublish = await r.req('POST', '/publish', { cookie: viewer.cookie, body: mp(viewer.csrf), contentType: 'multipart/form-data; boundary=b' });
  assert.is(viewerPublish.status, 403);
  assert.match(viewerPublish.body, /needs the operator role/);
  const op = await r.login('operator');
  const opNoToken = await r.req('POST', '/publish', { cookie: op.cookie, body: mp('forged'), contentType: 'multipart/form-data; boundary=b' });
  assert.is(opNoToken.status, 403);
  const opGarbage = await r.req('POST', '/publish', { cookie: op.cookie, body: mp(op.csrf), contentType: 'multipart/form-data; boundary=b' });
  assert.is(opGarbage.status, 400, 'an unsigned, undecodable file is not published');
  assert.match(opGarbage.body, /not a signed bundle or command/);
  const viewerUsers = await r.req('GET', '/users', { cookie: viewer.cookie });
  assert.is(viewerUsers.status, 403);
  const ok = await r.req('POST', '/logout', { cookie: viewer.cookie, form: { csrf: viewer.csrf } });
  assert.is(ok.status, 303);
  assert.is((await r.req('GET', '/', { cookie: viewer.cookie })).status, 303, 'the session ended');
});

test('SQL metacharacters and markup in the search are data: shown escaped, nothing found, nothing broken', async () => {
  if (skip('console search escaping')) return;
  const r = rig!;
  const { cookie } = await r.login('viewer');
  const evil = `' OR 1=1; DROP TABLE audit; --<script>alert(1)</script>`;
  const s = await r.req('GET', `/search?identity=${encodeURIComponent(evil)}&asset=${encodeURIComponent('plc-1" onmouseover="x')}`, { cookie });
  assert.is(s.status, 200);
  assert.match(s.body, /0 record\(s\)/);
  assert.not.match(s.body, /<script>alert/);
  assert.ok(s.body.includes('&#39; OR 1=1; DROP TABLE audit; --&lt;script&gt;alert(1)&lt;/script&gt;'));
  assert.ok(s.body.includes('plc-1&quot; onmouseover=&quot;x'));
  const all = await r.req('GET', '/search?asset=plc-1', { cookie });
  assert.match(all.body, /31 record\(s\)/, 'the store is intact');
  const badTime = await r.req('GET', '/search?from=yesterday%27--', { cookie });
  assert.is(badTime.status, 400);
});

test('a 10 MB query string is refused before parsing (414); over-long URLs and bodies too (414, 413)', async () => {
  if (skip('console size caps')) return;
  const r = rig!;
  const status = await new Promise<string>((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port: r.port, ca: r.ca }, () => {
      const chunk = 'a'.repeat(64 * 1024);
      s.write('GET /search?identity=');
      let sent = 0;
      const pump = () => { while (sent < 10 * 1024 * 1024) { sent += chunk.length; if (!s.write(chunk)) { s.once('drain', pump); return; } } };
      pump();
    });
    let got = '';
    s.on('data', (d) => { got += d; if (got.includes('\r\n')) { resolve(got.split('\r\n')[0]); s.destroy(); } });
    s.on('error', (e) => (got ? resolve(got.split('\r\n')[0]) : reject(e)));
    s.on('close', () => resolve(got.split('\r\n')[0]));
  });
  assert.match(status, /^HTTP\/1\.1 414/);
  const { cookie } = await r.login('viewer');
  const long = await r.req('GET', `/search?identity=${'x'.repeat(5000)}`, { cookie });
  assert.is(long.status, 414);
  const fat = await r.req('POST', '/logout', { cookie, form: { csrf: 'x', pad: 'y'.repeat(20_000) } });
  assert.is(fat.status, 413);
});

test('path traversal finds nothing: no files are served but the one static script', async () => {
  if (skip('console traversal')) return;
  const r = rig!;
  const { cookie } = await r.login('viewer');
  for (const p of ['/static/../../../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/static/live.js/../../users.json', '/users.json']) {
    const x = await r.req('GET', p, { cookie });
    assert.ok(x.status === 404 || x.status === 303, `${p}: ${x.status}`);
    assert.not.match(x.body, /root:|argon2id/);
  }
  const gw = await r.req('GET', `/gateway?site=lab&device=${encodeURIComponent('../../etc')}`, { cookie });
  assert.is(gw.status, 400);
  const js = await r.req('GET', '/static/live.js');
  assert.is(js.status, 200);
  assert.match(js.body, /EventSource/);
});

test('an admin adds a user (the TOTP seed is shown once) and removes it', async () => {
  if (skip('console users')) return;
  const r = rig!;
  const a = await r.login('admin');
  const add = await r.req('POST', '/users', { cookie: a.cookie, form: { csrf: a.csrf, name: 'vendor-x', role: 'viewer', password: 'a long password' } });
  assert.is(add.status, 200);
  assert.match(add.body, /otpauth:\/\/totp\/zonegate-fleet:vendor-x\?secret=[A-Z2-7]+/);
  const rm = await r.req('POST', '/users/remove', { cookie: a.cookie, form: { csrf: a.csrf, name: 'vendor-x' } });
  assert.match(rm.body, /Removed vendor-x/);
  assert.not.match(rm.body, /<td>vendor-x<\/td>/);
});

test('the console keeps its own audit trail: logins, failed logins and user changes, shown to admins only, chained', async () => {
  if (skip('console trail')) return;
  const r = rig!;
  const v = await r.login('viewer');
  assert.is((await r.req('GET', '/trail', { cookie: v.cookie })).status, 403);
  const a = await r.login('admin');
  const page = await r.req('GET', '/trail', { cookie: a.cookie });
  assert.is(page.status, 200);
  assert.match(page.body, /id="trail-state">Chain: <span class="ok">verifies<\/span>, \d+ entries/);
  const body = page.body;
  for (const what of [/login admin \(admin\) from/, /login failed for &quot;/, /admin added user vendor-x \(viewer\)/, /admin removed user vendor-x/, /refused \w+ \(viewer\): GET \/trail needs admin/]) assert.match(body, what);
  // Newest first: the removal above the addition.
  assert.ok(body.indexOf('removed user vendor-x') < body.indexOf('added user vendor-x'));
});

test.run();
