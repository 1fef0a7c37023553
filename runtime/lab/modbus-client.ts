/**
 * One Modbus/TCP request from a chosen source address, for labs and the README walk: it binds
 * the lab address of an identity (the HMI's 127.10.0.5 in the loopback lab copy of the policy),
 * connects, sends one request and reads one answer. MBAP per the Modbus TCP guide V1.0b;
 * functions 3 (read holding registers) and 6 (write single register), Application Protocol
 * V1.1b3 sections 6.3 and 6.6; exception codes section 7.
 */
import { connect, type Socket } from 'node:net';

export type LabRequest = { op: 'read'; address: number; count: number } | { op: 'write'; address: number; value: number };

export type LabOutcome =
  | { ok: true; values?: number[] }
  | { ok: false; exception: number; name: string }
  | { ok: false; closed: true; error?: string };

/** Names of the exception codes of section 7. */
const EXCEPTIONS: Readonly<Record<number, string>> = Object.freeze({
  1: 'illegal function', 2: 'illegal data address', 3: 'illegal data value', 4: 'server device failure',
  6: 'server device busy', 10: 'gateway path unavailable', 11: 'gateway target device failed to respond',
});

export function exceptionName(code: number): string {
  return EXCEPTIONS[code] ?? 'unknown exception';
}

function frameOf(unit: number, req: LabRequest): Buffer {
  const adu = Buffer.alloc(12);
  adu.writeUInt16BE(1, 0); // transaction id
  adu.writeUInt16BE(0, 2); // protocol id
  adu.writeUInt16BE(6, 4); // length: unit + PDU of 5
  adu[6] = unit;
  adu[7] = req.op === 'read' ? 3 : 6;
  adu.writeUInt16BE(req.address, 8);
  adu.writeUInt16BE(req.op === 'read' ? req.count : req.value, 10);
  return adu;
}

function parse(frame: Buffer, req: LabRequest): LabOutcome {
  const fn = frame[7];
  if (fn & 0x80) return { ok: false, exception: frame[8], name: exceptionName(frame[8]) };
  if (req.op === 'write') return { ok: true };
  const values: number[] = [];
  for (let i = 0; i < frame[8] / 2; i++) values.push(frame.readUInt16BE(9 + 2 * i));
  return { ok: true, values };
}

/** Sends one request and resolves with the answer, an exception, or how the connection ended. */
export function labModbusRequest(o: { host: string; port: number; localAddress?: string; unit: number; request: LabRequest; timeoutMs: number }): Promise<LabOutcome> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    let done = false;
    const finish = (r: LabOutcome): void => { if (!done) { done = true; clearTimeout(timer); sock.destroy(); resolve(r); } };
    const sock: Socket = connect({ host: o.host, port: o.port, localAddress: o.localAddress });
    const timer = setTimeout(() => finish({ ok: false, closed: true, error: `no answer within ${o.timeoutMs} ms` }), o.timeoutMs);
    sock.once('connect', () => sock.write(frameOf(o.unit, o.request)));
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 9 && buf.length >= 6 + buf.readUInt16BE(4)) finish(parse(buf.subarray(0, 6 + buf.readUInt16BE(4)), o.request));
    });
    sock.on('close', () => finish({ ok: false, closed: true }));
    sock.on('error', (e: NodeJS.ErrnoException) => {
      if (done) return;
      // Could not even connect (or bind the source address): that is the caller's input, not a refusal.
      if (!sock.remoteAddress || e.code === 'EADDRNOTAVAIL') { done = true; clearTimeout(timer); reject(e); return; }
      finish({ ok: false, closed: true, error: e.message });
    });
  });
}
