import type { Command } from './framework';
import { usageError } from './framework';
import { labModbusRequest, type LabRequest } from '../runtime/lab/modbus-client';
import { hostPortOption } from './host-port-option';

function int(s: string, what: string, max: number): number {
  const n = /^\d+$/.test(s) ? Number(s) : NaN;
  if (!(n >= 0 && n <= max)) throw usageError(`${what}: expected an integer 0..${max}, got '${s}'`);
  return n;
}

/** `--read A` or `--read A-B` (holding registers, inclusive), or `--write A=VALUE`. */
function request(read: unknown, write: unknown): LabRequest {
  if ((typeof read === 'string') === (typeof write === 'string')) throw usageError('give exactly one of --read ADDR[-END] and --write ADDR=VALUE');
  if (typeof write === 'string') {
    const m = /^([^=]+)=(.+)$/.exec(write);
    if (!m) throw usageError(`--write ${write}: expected ADDR=VALUE`);
    return { op: 'write', address: int(m[1], '--write address', 65535), value: int(m[2], '--write value', 65535) };
  }
  const [a, b = a] = (read as string).split('-');
  const address = int(a, '--read', 65535), end = int(b, '--read', 65535);
  if (end < address || end - address + 1 > 125) throw usageError(`--read ${read}: at most 125 registers, first <= last`);
  return { op: 'read', address, count: end - address + 1 };
}

/** `zonegate lab client`: one Modbus request from a lab source address, to see allow and deny. */
export const labClientCommand: Command = {
  path: ['lab', 'client'],
  summary: 'send one Modbus/TCP request from a chosen source address (labs and demos)',
  usage: 'lab client --to HOST:PORT [--from ADDRESS] [--unit N] (--read ADDR[-END] | --write ADDR=VALUE) [--json]',
  description: `Binds ADDRESS (in the loopback lab, 127.x.y.z stands for the policy's 10.x.y.z: the HMI is
127.10.0.5), connects to HOST:PORT (a gateway listener), sends one read of holding registers or one
write of a single register, and prints the answer. Exit 0 when the request was answered, 1 when
it was refused (a Modbus exception, or the connection closed).`,
  options: {
    to: { type: 'string', value: 'HOST:PORT', description: 'where to connect, e.g. 127.0.0.1:15020' },
    from: { type: 'string', value: 'ADDRESS', description: 'source address to bind, e.g. 127.10.0.5' },
    unit: { type: 'string', value: 'N', description: 'unit id (default 1)' },
    read: { type: 'string', value: 'ADDR[-END]', description: 'read holding registers ADDR..END' },
    write: { type: 'string', value: 'ADDR=VALUE', description: 'write one holding register' },
    timeout: { type: 'string', value: 'MS', description: 'how long to wait for the answer (default 5000)' },
  },
  json: true,
  async run(ctx) {
    if (typeof ctx.options.to !== 'string') throw usageError('--to HOST:PORT is required');
    const { host, port } = hostPortOption(ctx.options.to, '--to');
    const unit = typeof ctx.options.unit === 'string' ? int(ctx.options.unit, '--unit', 255) : 1;
    const timeoutMs = typeof ctx.options.timeout === 'string' ? int(ctx.options.timeout, '--timeout', 600_000) : 5000;
    const req = request(ctx.options.read, ctx.options.write);
    const from = typeof ctx.options.from === 'string' ? ctx.options.from : undefined;
    let r;
    try {
      r = await labModbusRequest({ host, port, localAddress: from, unit, request: req, timeoutMs });
    } catch (e) {
      ctx.err(`cannot connect to ${ctx.options.to}${from ? ` from ${from}` : ''}: ${(e as Error).message}`);
      return 1;
    }
    const what = req.op === 'read'
      ? `read holding registers ${req.address}${req.count > 1 ? `-${req.address + req.count - 1}` : ''} (unit ${unit})`
      : `write register ${req.address} = ${req.value} (unit ${unit})`;
    if (ctx.json) ctx.printJson({ request: { ...req, unit, from: from ?? null, to: ctx.options.to }, ...r });
    else if (r.ok) ctx.out(`${what}: ${r.values ? r.values.join(' ') : 'done'}`);
    else if ('exception' in r) ctx.out(`${what}: refused, exception ${r.exception} (${r.name})`);
    else ctx.out(`${what}: refused, the connection closed${r.error ? ` (${r.error})` : ''}`);
    return r.ok ? 0 : 1;
  },
};
