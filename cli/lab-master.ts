import type { Command } from './framework';
import { usageError } from './framework';
import { connectMaster, type MasterResponse } from '../runtime/lab/dnp3-master';
import { hostPortOption } from './host-port-option';
import { Iin2 } from '../drivers/dnp3';
import { runIec104Master } from './lab-iec104';

const IIN2_NAMES: [number, string][] = [
  [Iin2.NO_FUNC_CODE_SUPPORT, 'function code not supported'], [Iin2.OBJECT_UNKNOWN, 'object unknown'], [Iin2.PARAMETER_ERROR, 'parameter error'],
];

/** What a response says: its objects, or the IIN2 bits of a refusal. */
function describe(r: MasterResponse): { ok: boolean; text: string } {
  const bad = IIN2_NAMES.filter(([bit]) => (r.iin & bit) !== 0).map(([, name]) => name);
  if (bad.length) return { ok: false, text: `refused, IIN2 ${bad.join(', ')}` };
  return { ok: true, text: r.objects.length ? r.objects.join(', ') : 'done' };
}

/** `zonegate lab master --dnp3` / `--iec104`: one DNP3 or IEC 104 exchange from a lab source address. */
export const labMasterCommand: Command = {
  path: ['lab', 'master'],
  summary: 'send a DNP3 poll or control, or an IEC 104 interrogation, command or set-point, from a chosen source address (labs and demos)',
  usage: 'lab master --dnp3 --to HOST:PORT [--from ADDRESS] [--address N] [--outstation N] (--poll | --class 1|2|3 | --operate INDEX[=trip|close|pulse-on|latch-on|latch-off] [--direct] | --analog INDEX=VALUE [--direct]) [--json]\n       lab master --iec104 --to HOST:PORT [--from ADDRESS] [--ca N] (--interrogate | --command IOA=0|1 [--direct] | --setpoint IOA=VALUE [--direct]) [--json]',
  description: `Binds ADDRESS (in the loopback lab 127.x.y.z stands for the policy's 10.x.y.z), connects to
HOST:PORT (a gateway's dnp3 listener or an outstation) and runs one exchange: an integrity poll
(class 1, 2, 3 then 0), a class poll, a CROB control (select then operate, or --direct) or an
analog output (g41v2). Prints the response's objects, or the IIN2 bits a refusal carries. Exit 0
when answered without IIN2 error bits, 1 when refused or the connection failed.
With --iec104 (a gateway's iec104 listener or an RTU): STARTDT, then a general interrogation, a
single command (C_SC_NA_1) or a short-float set-point (C_SE_NC_1), select then execute unless
--direct. Prints the ASDUs received, or the refusal (a negative confirmation, causes 44-47).`,
  options: {
    dnp3: { type: 'boolean', description: 'speak DNP3' },
    iec104: { type: 'boolean', description: 'speak IEC 60870-5-104' },
    ca: { type: 'string', value: 'N', description: 'with --iec104: the common address (default 1)' },
    interrogate: { type: 'boolean', description: 'with --iec104: general interrogation' },
    command: { type: 'string', value: 'IOA=0|1', description: 'with --iec104: a single command' },
    setpoint: { type: 'string', value: 'IOA=VALUE', description: 'with --iec104: a short-float set-point' },
    to: { type: 'string', value: 'HOST:PORT', description: 'where to connect, e.g. 127.0.0.1:20000' },
    from: { type: 'string', value: 'ADDRESS', description: 'source address to bind, e.g. 127.10.0.5' },
    address: { type: 'string', value: 'N', description: 'the master\'s link address (default 1)' },
    outstation: { type: 'string', value: 'N', description: 'the outstation\'s link address (default 10)' },
    poll: { type: 'boolean', description: 'integrity poll' },
    class: { type: 'string', value: '1|2|3', description: 'poll one event class' },
    operate: { type: 'string', value: 'INDEX[=CONTROL]', description: 'a CROB on point INDEX (default latch-on)' },
    analog: { type: 'string', value: 'INDEX=VALUE', description: 'an analog output on point INDEX' },
    direct: { type: 'boolean', description: 'DIRECT_OPERATE instead of SELECT then OPERATE' },
    timeout: { type: 'string', value: 'MS', description: 'how long to wait for a response (default 5000)' },
  },
  json: true,
  async run(ctx) {
    const o = ctx.options;
    if ((o.dnp3 === true) === (o.iec104 === true)) throw usageError('--dnp3 or --iec104 is required (the protocol the lab master speaks over TCP)');
    if (o.iec104 === true) return runIec104Master(ctx);
    if (typeof o.to !== 'string') throw usageError('--to HOST:PORT is required');
    const { host, port } = hostPortOption(o.to, '--to');
    const int = (name: string, v: unknown, fallback: number, max: number): number => {
      if (typeof v !== 'string') return fallback;
      const n = /^\d+$/.test(v) ? Number(v) : NaN;
      if (!(n >= 0 && n <= max)) throw usageError(`--${name} ${v}: expected an integer 0..${max}`);
      return n;
    };
    const chosen = ['poll', 'class', 'operate', 'analog'].filter((k) => o[k] !== undefined && o[k] !== false);
    if (chosen.length !== 1) throw usageError('give exactly one of --poll, --class, --operate and --analog');
    const controls: Record<string, number> = { 'trip': 0x81, 'close': 0x41, 'pulse-on': 0x01, 'latch-on': 0x03, 'latch-off': 0x04 };
    let what: string;
    let exchange: (m: Awaited<ReturnType<typeof connectMaster>>) => Promise<MasterResponse>;
    const sbo = o.direct !== true;
    if (chosen[0] === 'poll') { what = 'integrity poll'; exchange = (m) => m.integrityPoll(); }
    else if (chosen[0] === 'class') {
      const cls = int('class', o.class, 0, 3);
      if (cls < 1) throw usageError('--class: 1, 2 or 3');
      what = `class ${cls} poll`;
      exchange = (m) => m.classPoll(cls as 1 | 2 | 3);
    } else if (chosen[0] === 'operate') {
      const [i, name = 'latch-on'] = String(o.operate).split('=');
      const index = int('operate', i, 0, 65535);
      const code = controls[name];
      if (code === undefined) throw usageError(`--operate ${String(o.operate)}: the control is one of ${Object.keys(controls).join(', ')}`);
      what = `${sbo ? 'select + operate' : 'direct operate'} CROB ${index} ${name}`;
      exchange = (m) => m.operate({ index, code, sbo });
    } else {
      const m = /^(\d+)=(-?\d+)$/.exec(String(o.analog));
      if (!m) throw usageError(`--analog ${String(o.analog)}: expected INDEX=VALUE`);
      const index = int('analog', m[1], 0, 65535), value = Number(m[2]);
      if (value < -32768 || value > 32767) throw usageError(`--analog ${String(o.analog)}: g41v2 holds -32768..32767`);
      what = `${sbo ? 'select + operate' : 'direct operate'} analog output ${index} = ${value}`;
      exchange = (mm) => mm.setAnalog({ index, value, sbo });
    }
    const from = typeof o.from === 'string' ? o.from : undefined;
    let master;
    try {
      master = await connectMaster({ host, port, localAddress: from, address: int('address', o.address, 1, 65519), outstation: int('outstation', o.outstation, 10, 65519), timeoutMs: int('timeout', o.timeout, 5000, 600_000) });
    } catch (e) {
      ctx.err(`cannot connect to ${o.to}${from ? ` from ${from}` : ''}: ${(e as Error).message}`);
      return 1;
    }
    try {
      const r = await exchange(master);
      const d = describe(r);
      if (ctx.json) ctx.printJson({ request: what, from: from ?? null, to: o.to, ok: d.ok, iin: r.iin, objects: r.objects });
      else ctx.out(`${what}: ${d.text}`);
      return d.ok ? 0 : 1;
    } catch (e) {
      if (ctx.json) ctx.printJson({ request: what, from: from ?? null, to: o.to, ok: false, error: (e as Error).message });
      else ctx.out(`${what}: refused, ${(e as Error).message}`);
      return 1;
    } finally {
      master.close();
    }
  },
};
