import { test } from 'uvu';
import * as assert from 'uvu/assert';
import nacl from 'tweetnacl';
import { Decoder } from 'cbor-x';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ZonegateError } from '../../policy/errors';
import {
  verifyBundle, signBundle, encodeEnvelope, decodeEnvelope, decodeCbor, encodeCbor, keyIdOf, publicKeyObject,
  verifyEd25519, signEd25519, readTrustRoot, verifyRootRotation, sealToDevice, openSealed, boxKeyPair, policyVersionTag,
  trustFileBytes, trustFileJson, sha256Hex,
} from '../../policy/bundle/index';
import { buildTrustRoot, specOf } from '../../fleet/trust';
import { world, policyBundle, testKey, T0, DAY, sitePolicy } from './fixtures';

const W = world();
const base = { trustRoot: W.root, device: 'gw-01', site: 'substation-12', now: T0 + DAY };

/**
 * Every signature vector these tests produce is cross-checked: tweetnacl and node:crypto must
 * agree on each signature by a known key (the one deliberate disagreement, S + L, has its own test).
 */
let crossChecked = 0;
function crossCheck(bytes: Uint8Array, keys: ReadonlyMap<string, Uint8Array>): void {
  let env;
  try { env = decodeEnvelope(bytes); } catch { return; }
  for (const s of env.signatures) {
    const pk = keys.get(s.keyId);
    if (!pk) continue;
    assert.is(nacl.sign.detached.verify(env.body, s.sig, pk), verifyEd25519(publicKeyObject(pk), env.body, s.sig), `tweetnacl and node:crypto agree on ${s.keyId}`);
    crossChecked += 1;
  }
}
function verify(bytes: Uint8Array, opts: Parameters<typeof verifyBundle>[1]) {
  crossCheck(bytes, opts.trustRoot.keys);
  return verifyBundle(bytes, opts);
}
function rotate(input: Parameters<typeof verifyRootRotation>[0]) {
  crossCheck(input.bytes, input.oldRoot.keys);
  try { crossCheck(input.bytes, readTrustRoot(input.bytes).keys); } catch { /* not self-signed to threshold: still cross-check what verifies */ }
  return verifyRootRotation(input);
}

function code(fn: () => unknown): { code: string; message: string } {
  try { fn(); } catch (e) {
    if (e instanceof ZonegateError) return { code: e.code, message: e.message };
    throw e;
  }
  throw new Error('expected a ZonegateError');
}

test('sign → verify: type, body, keyIds, hash; every signature cross-checked with tweetnacl', () => {
  const bytes = policyBundle({ version: 3, keys: W.policyKeys.slice(0, 2) });
  const v = verify(bytes, { ...base, expectType: 'policy' });
  assert.is(v.type, 'policy');
  assert.is(v.body.version, 3);
  assert.is(v.body.site, 'substation-12');
  assert.equal(v.body.targets, ['gw-01']);
  assert.equal(v.keyIds.sort(), W.policyKeys.slice(0, 2).map((k) => keyIdOf(k.publicKey)).sort());
  assert.is(v.hash, sha256Hex(bytes));
  assert.is((v.body.policy as Record<string, unknown>).site, 'substation-12');
  assert.is(policyVersionTag({ version: 3, hash: v.hash }), `v3-${v.hash.slice(0, 8)}`);
  const env = decodeEnvelope(bytes);
  for (const s of env.signatures) {
    const k = W.policyKeys.find((x) => keyIdOf(x.publicKey) === s.keyId)!;
    assert.ok(verifyEd25519(publicKeyObject(k.publicKey), env.body, s.sig), 'node:crypto');
    assert.ok(nacl.sign.detached.verify(env.body, s.sig, k.publicKey), 'tweetnacl');
    assert.equal(Buffer.from(nacl.sign.detached(env.body, nacl.sign.keyPair.fromSeed(k.seed).secretKey)), Buffer.from(s.sig), 'same deterministic signature');
  }
});

test('keyId is the first 16 bytes of sha256(raw public key), in hex', () => {
  const k = testKey('id');
  assert.is(keyIdOf(k.publicKey), sha256Hex(k.publicKey).slice(0, 32));
  assert.is(keyIdOf(k.publicKey).length, 32);
});

test('below threshold; duplicate signatures by one key count once; outside keys ignored', () => {
  const one = policyBundle({ version: 1, keys: [W.policyKeys[0]] });
  let r = code(() => verify(one, base));
  assert.is(r.code, 'ERR_BUNDLE_SIGNATURE');
  assert.is(r.message, "bundle: 1 valid signature(s) by 'policy' keys, 2 required");
  const env = decodeEnvelope(one);
  const dup = encodeEnvelope({ ...env, signatures: [env.signatures[0], env.signatures[0], env.signatures[0]] });
  r = code(() => verify(dup, base));
  assert.is(r.code, 'ERR_BUNDLE_SIGNATURE');
  assert.match(r.message, '1 valid signature(s)');
  // A root key and a grant key are not policy keys.
  const other = policyBundle({ version: 1, keys: [W.policyKeys[0], W.rootKeys[0], W.grantKeys[0]] });
  r = code(() => verify(other, base));
  assert.is(r.code, 'ERR_BUNDLE_SIGNATURE');
  // A signature under a policy keyId by another key is invalid, not counted.
  const env2 = decodeEnvelope(policyBundle({ version: 1, keys: [W.policyKeys[0], W.rootKeys[0]] }));
  const forged = encodeEnvelope({ ...env2, signatures: [env2.signatures[0], { keyId: keyIdOf(W.policyKeys[1].publicKey), sig: env2.signatures[1].sig }] });
  r = code(() => verify(forged, base));
  assert.is(r.message, "bundle: 1 valid signature(s) by 'policy' keys, 2 required (1 invalid signature(s))");
});

test('type: unknown type, a grant body relabelled policy, expectType', () => {
  const grant = signBundle({ type: 'grant', body: { site: 'substation-12', targets: ['gw-01'], version: 1, issuedAt: T0, expiresAt: T0 + DAY * 2, grant: { who: 'acme' } }, keys: W.grantKeys });
  let r = code(() => verify(grant, { ...base, expectType: 'policy' }));
  assert.is(r.code, 'ERR_BUNDLE_TYPE');
  assert.is(r.message, "expected a 'policy' bundle, got 'grant'");
  assert.is(verify(grant, base).type, 'grant');
  const env = decodeEnvelope(grant);
  r = code(() => verify(encodeEnvelope({ ...env, type: 'nope' }), base));
  assert.is(r.code, 'ERR_BUNDLE_TYPE');
  // Same key in the policy role would be needed; make a root where it is, and relabel.
  const keys = [W.grantKeys[0]];
  const root = readTrustRoot(buildTrustRoot({ spec: { version: 1, issuedAt: T0, expiresAt: T0 + 100 * DAY, roles: { root: { publicKeys: W.rootKeys.map((k) => k.publicKey), threshold: 1 }, policy: { publicKeys: keys.map((k) => k.publicKey), threshold: 1 }, grant: { publicKeys: keys.map((k) => k.publicKey), threshold: 1 } } }, signers: [W.rootKeys[0]] }));
  r = code(() => verify(encodeEnvelope({ ...env, type: 'policy' }), { ...base, trustRoot: root }));
  assert.is(r.code, 'ERR_BUNDLE_TYPE');
  assert.is(r.message, "bundle body carries 'grant', expected 'policy'");
});

test('grant and runtime bundles verify against their own roles; runtime payload is checked', () => {
  const body = { site: 'substation-12', targets: ['*'], version: 1, issuedAt: T0, expiresAt: T0 + 2 * DAY };
  const g = verify(signBundle({ type: 'grant', body: { ...body, grant: { identity: 'acme', conduits: ['c-0'] } }, keys: W.grantKeys }), { ...base, expectType: 'grant' });
  assert.equal(g.keyIds, [keyIdOf(W.grantKeys[0].publicKey)]);
  // The world's root delegates no runtime keys: such bundles never verify.
  const rt = signBundle({ type: 'runtime', body: { ...body, runtime: { sha256: 'a'.repeat(64), size: 1234, arch: 'arm64' } }, keys: W.policyKeys });
  const r = code(() => verify(rt, base));
  assert.is(r.code, 'ERR_BUNDLE_SIGNATURE');
  assert.is(r.message, "bundle: the trust root delegates no keys for the 'runtime' role");
  const e = code(() => signBundle({ type: 'runtime', body: { ...body, runtime: { sha256: 'xyz', size: 1, arch: 'arm64' } }, keys: W.policyKeys }));
  assert.is(e.code, 'ERR_BUNDLE_DECODE');
  assert.is(e.message, 'bundle body: runtime.sha256 is not 64 lower-case hex digits');
});

test('target: wrong device, wrong site, wildcard', () => {
  const b = policyBundle({ version: 1, keys: W.policyKeys.slice(0, 2), targets: ['gw-02', 'gw-03'] });
  let r = code(() => verify(b, base));
  assert.is(r.code, 'ERR_BUNDLE_TARGET');
  assert.is(r.message, "bundle targets gw-02, gw-03, not 'gw-01'");
  r = code(() => verify(policyBundle({ version: 1, keys: W.policyKeys.slice(0, 2), site: 'other' }), base));
  assert.is(r.code, 'ERR_BUNDLE_TARGET');
  assert.is(r.message, "bundle is for site 'other', this is 'substation-12'");
  assert.is(verify(policyBundle({ version: 1, keys: W.policyKeys.slice(0, 2), targets: ['*'] }), base).body.version, 1);
});

test('validity: expired, not yet valid, trust root expired', () => {
  const b = policyBundle({ version: 1, keys: W.policyKeys.slice(0, 2), expiresAt: T0 + DAY });
  let r = code(() => verify(b, { ...base, now: T0 + DAY }));
  assert.is(r.code, 'ERR_BUNDLE_EXPIRED');
  assert.is(r.message, 'bundle v1 expired at 2026-01-02T00:00:00.000Z');
  assert.is(verify(b, { ...base, now: T0 + DAY - 1 }).body.version, 1);
  const nb = policyBundle({ version: 1, keys: W.policyKeys.slice(0, 2), notBefore: T0 + 2 * DAY });
  r = code(() => verify(nb, base));
  assert.is(r.code, 'ERR_BUNDLE_EXPIRED');
  assert.is(r.message, 'bundle v1 is not valid before 2026-01-03T00:00:00.000Z');
  r = code(() => verify(policyBundle({ version: 1, keys: W.policyKeys.slice(0, 2), expiresAt: T0 + 400 * DAY }), { ...base, now: T0 + 366 * DAY }));
  assert.is(r.code, 'ERR_TRUST_ROOT');
  assert.match(r.message, 'the trust root v1 expired');
});

test('oversize is refused before decoding', () => {
  const b = policyBundle({ version: 1, keys: W.policyKeys.slice(0, 2) });
  const r = code(() => verify(b, { ...base, maxBytes: b.length - 1 }));
  assert.is(r.code, 'ERR_BUNDLE_SIZE');
  assert.is(r.message, `bundle is ${b.length} bytes, above the limit of ${b.length - 1}`);
  // 32 MiB of garbage: refused by size, never scanned.
  assert.is(code(() => verify(new Uint8Array(32 * 1024 * 1024), base)).code, 'ERR_BUNDLE_SIZE');
});

const hostile: [string, Uint8Array, string][] = [
  ['indefinite array 9f', Uint8Array.from([0x9f, 0x01, 0x02, 0xff]), 'indefinite length'],
  ['indefinite map bf', Uint8Array.from([0xbf, 0x61, 0x61, 0x01, 0xff]), 'indefinite length'],
  ['indefinite bytes 5f', Uint8Array.from([0x5f, 0x41, 0x00, 0xff]), 'indefinite length'],
  ['byte string of 2^40 bytes', Uint8Array.from([0x5b, 0, 0, 0x01, 0, 0, 0, 0, 0, 0x00]), 'declared length 1099511627776'],
  ['text of 4 GiB', Uint8Array.from([0x7a, 0xff, 0xff, 0xff, 0xff, 0x61]), 'declared length 4294967295'],
  ['array of 2^32-1 items', Uint8Array.from([0x9a, 0xff, 0xff, 0xff, 0xff, 0x00]), 'declared array size 4294967295'],
  ['map of 2^53 entries', Uint8Array.from([0xbb, 0x00, 0x20, 0, 0, 0, 0, 0, 0]), 'beyond 2^53'],
  ['array nested 100,000 deep', new Uint8Array(100_000).fill(0x81), 'nesting deeper than'],
  ['tag 1 (date)', Uint8Array.from([0xc1, 0x1a, 0, 0, 0, 0]), 'tag 1 not allowed'],
  ['cbor-x record tag', Uint8Array.from([0xd9, 0xdf, 0xff, 0x80]), 'tag (extended) not allowed'],
  ['undefined', Uint8Array.from([0xf7]), 'simple value 23 not allowed'],
  ['trailing bytes', Uint8Array.from([0x01, 0x02]), '1 trailing byte(s)'],
  ['integer key', Uint8Array.from([0xa1, 0x01, 0x01]), 'map key is not a text string'],
  ['duplicate key', Uint8Array.from([0xa2, 0x61, 0x61, 0x01, 0x61, 0x61, 0x02]), 'duplicate map key'],
  ['lone break', Uint8Array.from([0xff]), 'unexpected break'],
  ['truncated header', Uint8Array.from([0x82, 0x01, 0x19, 0x00]), 'truncated header'],
  ['short array', Uint8Array.from([0x82, 0x01]), 'declared array size 2 beyond the 1 remaining bytes'],
];

for (const [name, bytes, msg] of hostile) {
  test(`hostile CBOR refused before cbor-x: ${name}`, () => {
    const r = code(() => verify(bytes, base));
    assert.is(r.code, 'ERR_BUNDLE_DECODE');
    assert.match(r.message, msg);
  });
}

test('hostile CBOR inside a signed body (deep nesting, tags) is refused after the signature', () => {
  // A signer can only produce profile CBOR; hand-build a body with a tag and sign it raw.
  const body = Uint8Array.from([0xa1, 0x61, 0x78, 0xc1, 0x00]);
  const sigs = W.policyKeys.slice(0, 2).map((k) => ({ keyId: keyIdOf(k.publicKey), sig: signEd25519(k.seed, body) }));
  const r = code(() => verify(encodeEnvelope({ type: 'policy', body, signatures: sigs }), base));
  assert.is(r.code, 'ERR_BUNDLE_DECODE');
  assert.is(r.message, 'bundle body is not valid CBOR for zonegate: tag 1 not allowed at byte 4');
});

test('hostile inputs grow the heap by less than 10 MB', () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  const before = process.memoryUsage();
  for (let i = 0; i < 200; i++) for (const [, bytes] of hostile) { try { verify(bytes, base); } catch { /* refused */ } }
  gc();
  const after = process.memoryUsage();
  const grew = (after.heapUsed - before.heapUsed) + (after.arrayBuffers - before.arrayBuffers);
  assert.ok(grew < 10 * 1024 * 1024, `heap grew ${grew} bytes`);
  // What the pre-scan prevents: cbor-x itself believes a declared 2^32 array length.
  assert.throws(() => new Decoder({ mapsAsObjects: false }).decode(Uint8Array.from([0x9a, 0xff, 0xff, 0xff, 0xff, 0x00])));
});

test('__proto__ keys decode as data on null-prototype objects', () => {
  const bytes = Uint8Array.from([0xa2, 0x69, ...Buffer.from('__proto__'), 0xa1, 0x61, 0x78, 0x01, 0x61, 0x79, 0x02]);
  const v = decodeCbor(bytes) as Record<string, unknown>;
  assert.is(Object.getPrototypeOf(v), null);
  assert.equal(Object.keys(v), ['__proto__', 'y']);
  assert.is((v['__proto__'] as Record<string, unknown>).x, 1);
  assert.is((v as { x?: unknown }).x, undefined);
  assert.is(({} as { x?: unknown }).x, undefined, 'Object.prototype untouched');
  // Round trip through the encoder keeps the key.
  const again = decodeCbor(encodeCbor(v)) as Record<string, unknown>;
  assert.equal(Object.keys(again), ['__proto__', 'y']);
  // A policy carrying a __proto__ key is refused by validation as an unknown field, not merged.
  const p = sitePolicy() as Record<string, unknown>;
  const withProto = Object.assign(Object.create(null), p);
  Object.defineProperty(withProto, '__proto__', { value: { polluted: true }, enumerable: true });
  const b = policyBundle({ version: 1, keys: W.policyKeys.slice(0, 2), policy: withProto });
  const body = verify(b, base).body.policy as Record<string, unknown>;
  assert.ok(Object.prototype.hasOwnProperty.call(body, '__proto__'));
  assert.is((body as { polluted?: unknown }).polluted, undefined);
});

test('non-canonical signature (S + L): node:crypto rejects, tweetnacl accepts', () => {
  // RFC 8032 section 5.1.7: S must be < L = 2^252 + 27742317777372353535851937790883648493.
  // The vector: a valid signature (R ‖ S) of the body by policy key 1, with S replaced by S + L
  // (little-endian 256-bit addition; S + L < 2^256 always holds since S < L < 2^253).
  const L = (1n << 252n) + 27742317777372353535851937790883648493n;
  const k = W.policyKeys[0];
  const b = policyBundle({ version: 1, keys: [k, W.policyKeys[1]] });
  const env = decodeEnvelope(b);
  const sig = env.signatures.find((s) => s.keyId === keyIdOf(k.publicKey))!.sig;
  const le = (x: Uint8Array) => x.reduceRight((acc, byte) => (acc << 8n) | BigInt(byte), 0n);
  const S = le(sig.subarray(32));
  const S2 = S + L;
  const mal = new Uint8Array(64);
  mal.set(sig.subarray(0, 32));
  for (let i = 0, x = S2; i < 32; i++, x >>= 8n) mal[32 + i] = Number(x & 0xffn);
  assert.ok(S2 < 1n << 256n);
  assert.ok(nacl.sign.detached.verify(env.body, mal, k.publicKey), 'tweetnacl accepts S + L');
  assert.not.ok(verifyEd25519(publicKeyObject(k.publicKey), env.body, mal), 'node:crypto rejects S + L');
  // So the malleated copy does not count towards the threshold.
  const bad = encodeEnvelope({ ...env, signatures: env.signatures.map((s) => (s.keyId === keyIdOf(k.publicKey) ? { keyId: s.keyId, sig: mal } : s)) });
  assert.is(code(() => verifyBundle(bad, base)).code, 'ERR_BUNDLE_SIGNATURE');
});

test('root rotation: both thresholds and version + 1', () => {
  const newRoot = [4, 5, 6].map((i) => testKey(`root-new-${i}`));
  const spec = { ...specOf(W.root), version: 2, issuedAt: T0, expiresAt: T0 + 400 * DAY };
  spec.roles = { ...spec.roles, root: { publicKeys: newRoot.map((k) => k.publicKey), threshold: 2 } };
  const now = T0 + DAY;
  const ok = buildTrustRoot({ spec, signers: [W.rootKeys[0], W.rootKeys[1], newRoot[0], newRoot[1]] });
  const r2 = rotate({ oldRoot: W.root, bytes: ok, now });
  assert.is(r2.version, 2);
  assert.equal(r2.roles.root.keyIds, newRoot.map((k) => keyIdOf(k.publicKey)));
  // Old threshold not met.
  let r = code(() => rotate({ oldRoot: W.root, bytes: buildTrustRoot({ spec, signers: [W.rootKeys[0], newRoot[0], newRoot[1]] }), now }));
  assert.is(r.code, 'ERR_BUNDLE_SIGNATURE');
  assert.is(r.message, "new trust root (old root v1 keys): 1 valid signature(s) by 'root' keys, 2 required");
  // New threshold not met.
  r = code(() => rotate({ oldRoot: W.root, bytes: buildTrustRoot({ spec, signers: [W.rootKeys[0], W.rootKeys[1], newRoot[0]] }), now }));
  assert.is(r.code, 'ERR_BUNDLE_SIGNATURE');
  assert.is(r.message, "new trust root (its own root keys): 1 valid signature(s) by 'root' keys, 2 required");
  // Version skip and replay.
  for (const version of [3, 1]) {
    r = code(() => rotate({ oldRoot: W.root, bytes: buildTrustRoot({ spec: { ...spec, version }, signers: [W.rootKeys[0], W.rootKeys[1], newRoot[0], newRoot[1]] }), now }));
    assert.is(r.code, 'ERR_TRUST_ROOT');
    assert.is(r.message, `new trust root is v${version}, expected exactly v2`);
  }
  // Expired new root.
  r = code(() => rotate({ oldRoot: W.root, bytes: ok, now: T0 + 400 * DAY }));
  assert.is(r.code, 'ERR_TRUST_ROOT');
  assert.match(r.message, 'new trust root v2 expired');
  // Bundles signed under the rotated root still verify when the policy role did not change.
  assert.is(verify(policyBundle({ version: 1, keys: W.policyKeys.slice(0, 2) }), { ...base, trustRoot: r2 }).body.version, 1);
});

test('trust root file: CBOR or the JSON wrapper give the same bytes; self-signature checked', () => {
  assert.equal(trustFileBytes(W.root.bytes), W.root.bytes);
  const json = new TextEncoder().encode(trustFileJson(W.root));
  assert.equal(Buffer.from(trustFileBytes(json)), Buffer.from(W.root.bytes));
  assert.is(readTrustRoot(trustFileBytes(json)).hash, W.root.hash);
  const env = decodeEnvelope(W.root.bytes);
  const r = code(() => readTrustRoot(encodeEnvelope({ ...env, signatures: env.signatures.slice(0, 1) })));
  assert.is(r.code, 'ERR_TRUST_ROOT');
  assert.match(r.message, "1 valid signature(s) by 'root' keys, 2 required");
});

test('sealed boxes open only with the device key', () => {
  const dev = boxKeyPair();
  const other = boxKeyPair();
  const secret = new TextEncoder().encode('JBSWY3DPEHPK3PXP');
  const box = sealToDevice(secret, dev.publicKey);
  assert.equal(Buffer.from(openSealed(box, dev.secretKey)).toString(), 'JBSWY3DPEHPK3PXP');
  assert.is(code(() => openSealed(box, other.secretKey)).message, 'sealed box does not open with this device key');
  const flipped = box.slice(); flipped[70] ^= 1;
  assert.is(code(() => openSealed(flipped, dev.secretKey)).code, 'ERR_BUNDLE_DECODE');
  assert.not.equal(Buffer.from(sealToDevice(secret, dev.publicKey)), Buffer.from(box), 'ephemeral key each time');
});

test('the encoder refuses what a device would refuse', () => {
  assert.is(code(() => encodeCbor({ a: new Date(0) })).code, 'ERR_BUNDLE_DECODE');
  assert.is(code(() => encodeCbor({ a: Number.NaN })).code, 'ERR_BUNDLE_DECODE');
  decodeCbor(encodeCbor({ a: [1, 'x', null, true, 1.5, new Uint8Array(3), 2 ** 53 - 1, -(2 ** 40)] }));
});

test('duplicate keys in a big map are refused too', () => {
  const keys = Array.from({ length: 20 }, (_, i) => `k${i}`);
  keys[19] = 'k3';
  const parts: number[] = [0xb4];
  for (const k of keys) parts.push(0x60 + k.length, ...Buffer.from(k), 0x01);
  const r = code(() => decodeCbor(Uint8Array.from(parts)));
  assert.is(r.code, 'ERR_BUNDLE_DECODE');
  assert.match(r.message, 'duplicate map key');
  keys[19] = 'k19';
  const ok: number[] = [0xb4];
  for (const k of keys) ok.push(0x60 + k.length, ...Buffer.from(k), 0x01);
  assert.equal(Object.keys(decodeCbor(Uint8Array.from(ok)) as object).length, 20);
});

test('fuzz: random bytes and mutated bundles only ever fail with a ZonegateError', () => {
  let seed = 12345;
  const rnd = () => { seed = (seed * 1103515245 + 12345) >>> 0; return seed / 2 ** 32; };
  const good = policyBundle({ version: 1, keys: W.policyKeys.slice(0, 2) });
  const codes = new Set<string>();
  for (let i = 0; i < 5000; i++) {
    let b: Uint8Array;
    if (i % 2 === 0) {
      b = Uint8Array.from({ length: 1 + Math.floor(rnd() * 64) }, () => Math.floor(rnd() * 256));
    } else {
      b = good.slice(0, 1 + Math.floor(rnd() * good.length));
      for (let j = 0; j < 3; j++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
    }
    try { verifyBundle(b, base); } catch (e) {
      assert.instance(e, ZonegateError);
      codes.add((e as ZonegateError).code);
    }
  }
  assert.ok(codes.has('ERR_BUNDLE_DECODE'));
});

test('tweetnacl cross-checked every signature vector above', () => {
  assert.ok(crossChecked > 40, `${crossChecked} signatures cross-checked`);
});

test.run();
