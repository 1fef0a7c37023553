import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseRequest } from '../../policy/request';

test('a full request normalises names, addresses and time', () => {
  const r = parseRequest({
    from: { ip: '::ffff:10.10.0.5' }, to: { ip: 'FD00::0010', port: 502 }, protocol: 'modbus',
    modbus: { function: 'read-holding-registers', unit: 1, address: 10, count: 5 },
    at: '2026-01-13T16:00:00Z', session: { edgeAuth: true, identity: 'alice', grant: ['vendor-maintenance'] },
  });
  assert.equal(r.issues, []);
  assert.equal(r.request, {
    from: { ip: '10.10.0.5' }, to: { ip: 'fd00::10', port: 502 }, protocol: 'modbus',
    modbus: { function: 3, unit: 1, address: 10, count: 5 },
    at: Date.UTC(2026, 0, 13, 16), session: { edgeAuth: true, identity: 'alice', grant: ['vendor-maintenance'] },
  });
});

test('ids, codes, epoch ms and implied protocol', () => {
  const r = parseRequest({ from: 'hmi-1', to: 'plc-1', modbus: { function: '0x10' }, at: 1700000000000 });
  assert.equal(r.request, { from: 'hmi-1', to: 'plc-1', protocol: 'modbus', modbus: { function: 16 }, at: 1700000000000 });
  assert.equal(parseRequest({ from: 'a', to: 'b', modbus: { function: 99, count: 0 } }).request?.modbus, { function: 99, count: 0 });
  assert.equal(parseRequest({ from: 'a', to: 'b', protocol: 'tcp', port: 443 }).request, { from: 'a', to: 'b', protocol: 'tcp', port: 443 });
  assert.equal(parseRequest({ from: 'a', to: 'b', session: { grant: true } }).request?.session, { grant: true });
});

test('every problem is reported with its path', () => {
  const r = parseRequest({
    from: { ip: '10.0.0.300' }, to: { ip: '10.0.0.1', port: 70000 }, protocol: 'udp',
    modbus: { function: 'read-colis', unit: 256, address: -1, count: 1.5 }, at: 'yesterday', session: { edgeAuth: 'yes', grant: 'all' }, extra: 1,
  });
  assert.is(r.request, undefined);
  const byPath = Object.fromEntries(r.issues.map((i) => [i.path, i.message]));
  assert.equal(Object.keys(byPath).sort(), [
    'request.at', 'request.extra', 'request.from.ip', 'request.modbus', 'request.modbus.address', 'request.modbus.count', 'request.modbus.function',
    'request.modbus.unit', 'request.protocol', 'request.session.edgeAuth', 'request.session.grant', 'request.to.port',
  ].sort().filter((p) => p !== 'request.modbus'));
  assert.match(byPath['request.from.ip'], /must be an IPv4 or IPv6 address, got the string "10\.0\.0\.300"/);
  assert.match(byPath['request.to.port'], /a port must be 1\.\.65535, got 70000/);
  assert.match(byPath['request.protocol'], /must be 'modbus', 'dnp3', 'iec104' or 'tcp', got the string "udp"/);
  assert.match(byPath['request.modbus.function'], /unknown Modbus function 'read-colis' \(did you mean 'read-coils'\?\)/);
  assert.match(byPath['request.modbus.unit'], /a unit id must be 0\.\.255, got 256/);
  assert.match(byPath['request.modbus.address'], /an address must be 0\.\.65535, got -1/);
  assert.match(byPath['request.modbus.count'], /must be a count \(an integer 0\.\.65535\), got number 1\.5/);
  assert.match(byPath['request.at'], /ISO 8601/);
  assert.match(byPath['request.session.edgeAuth'], /must be true or false/);
  assert.match(byPath['request.session.grant'], /must be true, false or a list of conduit ids/);
  assert.match(byPath['request.extra'], /unknown field 'extra'/);
});

test('required fields, shapes and the custom path prefix', () => {
  assert.equal(parseRequest({}).issues.map((i) => i.path), ['request.from', 'request.to']);
  assert.equal(parseRequest('x', 'tests[0].request').issues, [{ path: 'tests[0].request', message: 'must be a mapping, got the string "x"' }]);
  assert.equal(parseRequest({ from: '', to: { port: 5 } }, '').issues.map((i) => [i.path, i.message]), [
    ['from', 'must name an identity or asset, or be { ip }'],
    ['to.ip', "required field 'ip' is missing"],
  ]);
  assert.match(parseRequest({ from: 'a', to: 'b', protocol: 'tcp', modbus: { function: 3 } }).issues[0].message, /cannot say protocol: tcp/);
  assert.match(parseRequest({ from: 'a', to: 'b', modbus: {} }).issues[0].message, /required field 'function' is missing/);
  assert.match(parseRequest({ from: { ip: '10.0.0.1', port: 1 }, to: 'b' }).issues[0].message, /unknown field 'port'/);
  assert.match(parseRequest({ from: 'a', to: 'b', at: '2026-01-13T16:00:00' }).issues[0].message, /with a zone/);
  assert.match(parseRequest({ from: 'a', to: 'b', at: -5 }).issues[0].message, /epoch milliseconds/);
});

test('a __proto__ field is reported, not merged', () => {
  const raw = JSON.parse('{"from":"a","to":"b","__proto__":{"protocol":"tcp"}}');
  const r = parseRequest(raw);
  assert.equal(r.issues.map((i) => i.path), ['request.__proto__']);
});

test.run();
