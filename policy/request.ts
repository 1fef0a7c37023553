/**
 * The decision request a person writes (CLI `policy explain --request JSON`, a policy's `tests:`),
 * checked field by field and normalised: function names become codes, IP addresses canonical
 * text, `at` epoch milliseconds, and a request with `modbus` says `protocol: modbus`.
 *
 * The request may ask about things the decider must deny (count 0, a function code zonegate
 * does not know, an address range running past 65535): those are well-formed requests whose
 * answer is `malformed` or `function-not-allowed`, so they are accepted here.
 */
import type { Issue } from './errors';
import type { DecisionRequest, Protocol, SessionFacts } from './types';
import { modbusFunction, modbusFunctionCode, MODBUS_FUNCTIONS } from './modbus';
import { subFunctionCode } from './request-pdu';
import { normalizeIp } from './net';
import { readDnp3Request } from './dnp3-request';
import { readIec104Request } from './iec104-request';
import {
  IssueList, q, readObject, readString, readBoolean, checkInt, describe, didYouMean, has, get,
} from './check';
import type { Path } from './check';

const REQUEST_FIELDS = ['from', 'to', 'protocol', 'port', 'modbus', 'dnp3', 'iec104', 'at', 'session'] as const;
const MODBUS_FIELDS = ['function', 'unit', 'address', 'count', 'writeAddress', 'writeCount', 'subFunction', 'values'] as const;
const SESSION_FIELDS = ['edgeAuth', 'identity', 'grant'] as const;
const PROTOCOLS: readonly Protocol[] = ['modbus', 'tcp', 'dnp3', 'iec104'];

/** Parses a request; `path` prefixes issue paths (default `request`). Never throws on bad input. */
export function parseRequest(raw: unknown, path = 'request'): { request?: DecisionRequest; issues: Issue[] } {
  const out = new IssueList();
  const request = readRequest(raw, [], out);
  // `path` is already formatted (e.g. `tests[0].request`): prefix it as text.
  const issues = out.issues.map((i) => ({
    ...i,
    path: path === '' ? i.path : i.path === '' ? path : i.path.startsWith('[') ? `${path}${i.path}` : `${path}.${i.path}`,
  }));
  return { request: out.count === 0 ? request : undefined, issues };
}

function readEndpoint(v: unknown, path: Path, out: IssueList, withPort: boolean): string | { ip: string; port?: number } | undefined {
  if (typeof v === 'string') {
    if (v.trim() === '') { out.add(path, 'must name an identity or asset, or be { ip }'); return undefined; }
    return v;
  }
  const rec = readObject(v, path, withPort ? ['ip', 'port'] : ['ip'], out, 'an id or { ip: ... }');
  if (!rec) return undefined;
  const ipRaw = get(rec, 'ip');
  let ip: string | undefined;
  if (ipRaw === undefined) out.add([...path, 'ip'], "required field 'ip' is missing");
  else if (typeof ipRaw !== 'string' || (ip = normalizeIp(ipRaw)) === undefined) {
    out.add([...path, 'ip'], `must be an IPv4 or IPv6 address, got ${describe(ipRaw)}`);
  }
  let port: number | undefined;
  if (withPort && has(rec, 'port')) port = checkInt(rec.port, [...path, 'port'], out, { min: 1, max: 65535, name: 'a port' });
  if (ip === undefined) return undefined;
  return port === undefined ? { ip } : { ip, port };
}

function readAt(v: unknown, path: Path, out: IssueList): number | undefined {
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0 || v > 8.64e15) { out.add(path, `must be epoch milliseconds (a non-negative integer), got ${v}`); return undefined; }
    return v;
  }
  if (typeof v === 'string') {
    // ISO 8601 with a date; without an offset Date.parse reads a date-time as local time, so require one.
    const iso = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$/;
    const ms = Date.parse(v);
    if (!iso.test(v) || Number.isNaN(ms)) {
      out.add(path, `must be an ISO 8601 time with a zone like "2026-03-02T14:00:00Z", or epoch milliseconds; got ${describe(v)}`);
      return undefined;
    }
    return ms;
  }
  out.add(path, `must be an ISO 8601 time or epoch milliseconds, got ${describe(v)}`);
  return undefined;
}

function readModbus(v: unknown, path: Path, out: IssueList): DecisionRequest['modbus'] | undefined {
  const rec = readObject(v, path, MODBUS_FIELDS, out);
  if (!rec) return undefined;
  let fn: number | undefined;
  const fRaw = get(rec, 'function');
  if (fRaw === undefined) out.add([...path, 'function'], "required field 'function' is missing");
  else if (typeof fRaw === 'number') fn = checkInt(fRaw, [...path, 'function'], out, { min: 0, max: 255, name: 'a function code' });
  else if (typeof fRaw === 'string') {
    fn = modbusFunctionCode(fRaw);
    if (fn === undefined && /^(0x[0-9a-f]{1,2}|\d{1,3})$/i.test(fRaw.trim()) && Number(fRaw.trim()) <= 255) fn = Number(fRaw.trim());
    if (fn === undefined) out.add([...path, 'function'], `unknown Modbus function '${q(fRaw)}'${didYouMean(fRaw, MODBUS_FUNCTIONS.map((f) => f.name))}`);
  } else out.add([...path, 'function'], `must be a function name or code, got ${describe(fRaw)}`);
  const res: NonNullable<DecisionRequest['modbus']> = { function: fn ?? 0 };
  if (has(rec, 'unit')) res.unit = checkInt(rec.unit, [...path, 'unit'], out, { min: 0, max: 255, name: 'a unit id' });
  if (has(rec, 'address')) res.address = checkInt(rec.address, [...path, 'address'], out, { min: 0, max: 65535, name: 'an address' });
  if (has(rec, 'count')) res.count = checkInt(rec.count, [...path, 'count'], out, { min: 0, max: 65535, name: 'a count' });
  if (has(rec, 'writeAddress')) res.writeAddress = checkInt(rec.writeAddress, [...path, 'writeAddress'], out, { min: 0, max: 65535, name: 'an address' });
  if (has(rec, 'writeCount')) res.writeCount = checkInt(rec.writeCount, [...path, 'writeCount'], out, { min: 0, max: 65535, name: 'a count' });
  if (has(rec, 'subFunction')) {
    const f = fn === undefined ? undefined : modbusFunction(fn);
    const raw = rec.subFunction;
    const code = f?.subFunctions && (typeof raw === 'number' || typeof raw === 'string') ? subFunctionCode(f.code, raw) : -1;
    if (!f?.subFunctions) out.add([...path, 'subFunction'], `function ${fn ?? '?'} has no sub-functions (only diagnostics and encapsulated-interface-transport do)`);
    else if (code < 0) out.add([...path, 'subFunction'], `unknown ${f.name} sub-function ${describe(raw)}${typeof raw === 'string' ? didYouMean(raw, f.subFunctions.map((x) => x.name)) : ''}`);
    else res.subFunction = code;
  }
  if (has(rec, 'values')) {
    const v = rec.values;
    if (!Array.isArray(v) || v.length === 0 || v.length > 2000) out.add([...path, 'values'], `must be a list of 1 to 2000 register words (0..65535) or coil states (0/1), got ${describe(v)}`);
    else {
      const vs: number[] = [];
      v.forEach((x, i) => {
        if (typeof x === 'boolean') vs.push(x ? 1 : 0);
        else { const n = checkInt(x, [...path, 'values', i], out, { min: 0, max: 65535, name: 'a register word' }); if (n !== undefined) vs.push(n); }
      });
      res.values = vs;
    }
  }
  return res;
}

function readSession(v: unknown, path: Path, out: IssueList): SessionFacts | undefined {
  const rec = readObject(v, path, SESSION_FIELDS, out);
  if (!rec) return undefined;
  const res: SessionFacts = {};
  const edgeAuth = readBoolean(rec, 'edgeAuth', path, out);
  if (edgeAuth !== undefined) res.edgeAuth = edgeAuth;
  const identity = readString(rec, 'identity', path, out);
  if (identity !== undefined) res.identity = identity;
  if (has(rec, 'grant')) {
    const g = rec.grant;
    if (typeof g === 'boolean') res.grant = g;
    else if (Array.isArray(g) && g.every((x) => typeof x === 'string' && x !== '')) res.grant = g.slice() as string[];
    else out.add([...path, 'grant'], `must be true, false or a list of conduit ids, got ${describe(g)}`);
  }
  return res;
}

/**
 * Reads a request into `out` (issues carry `path` prefixes and whatever positions `out` can
 * find). Returns the normalised request; it is only meaningful when no issue was added.
 */
export function readRequest(raw: unknown, path: Path, out: IssueList): DecisionRequest | undefined {
  const before = out.count;
  const rec = readObject(raw, path, REQUEST_FIELDS, out);
  if (!rec) return undefined;
  const req: Partial<DecisionRequest> = {};
  for (const key of ['from', 'to'] as const) {
    if (!has(rec, key) || rec[key] === undefined) { out.add([...path, key], `required field '${q(key)}' is missing`); continue; }
    const ep = readEndpoint(rec[key], [...path, key], out, key === 'to');
    if (ep !== undefined) (req as Record<string, unknown>)[key] = ep;
  }
  if (has(rec, 'protocol')) {
    const p = rec.protocol;
    if (typeof p === 'string' && (PROTOCOLS as readonly string[]).includes(p)) req.protocol = p as Protocol;
    else out.add([...path, 'protocol'], `must be 'modbus', 'dnp3', 'iec104' or 'tcp', got ${describe(p)}${typeof p === 'string' ? didYouMean(p, PROTOCOLS) : ''}`);
  }
  if (has(rec, 'port')) req.port = checkInt(rec.port, [...path, 'port'], out, { min: 1, max: 65535, name: 'a port' });
  if (has(rec, 'modbus')) {
    req.modbus = readModbus(rec.modbus, [...path, 'modbus'], out);
    if (req.protocol === 'tcp') out.add([...path, 'modbus'], "a request with 'modbus' cannot say protocol: tcp");
    else if (req.protocol === undefined) req.protocol = 'modbus';
  }
  if (has(rec, 'dnp3')) { // DNP3 (dnp3-request.ts)
    req.dnp3 = readDnp3Request(rec.dnp3, [...path, 'dnp3'], out);
    if (req.modbus !== undefined || (req.protocol !== undefined && req.protocol !== 'dnp3')) out.add([...path, 'dnp3'], "a request with 'dnp3' says protocol: dnp3 and has no 'modbus'");
    else req.protocol = 'dnp3';
  }
  if (has(rec, 'iec104')) { // IEC 104 (iec104-request.ts)
    req.iec104 = readIec104Request(rec.iec104, [...path, 'iec104'], out);
    if (req.modbus !== undefined || req.dnp3 !== undefined || (req.protocol !== undefined && req.protocol !== 'iec104')) out.add([...path, 'iec104'], "a request with 'iec104' says protocol: iec104 and has no 'modbus' or 'dnp3'");
    else req.protocol = 'iec104';
  }
  if (has(rec, 'at')) req.at = readAt(rec.at, [...path, 'at'], out);
  if (has(rec, 'session')) req.session = readSession(rec.session, [...path, 'session'], out);
  if (out.count > before) return undefined;
  // Drop keys whose value came out undefined so the request is exactly the normalised data.
  for (const k of Object.keys(req) as (keyof DecisionRequest)[]) if (req[k] === undefined) delete req[k];
  return req as DecisionRequest;
}
