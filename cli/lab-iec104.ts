/**
 * The IEC 104 halves of `zonegate lab rtu --iec104` and `zonegate lab master --iec104`
 * (lab-rtu.ts and lab-master.ts dispatch here): the lab RTU (runtime/lab/iec104-rtu.ts) in the
 * foreground, and one exchange of the lab master (runtime/lab/iec104-master.ts).
 */
import type { CommandContext } from './framework';
import { usageError } from './framework';
import { startIec104Rtu } from '../runtime/lab/iec104-rtu';
import { connectIec104Master, type Iec104Master, type ReceivedAsdu } from '../runtime/lab/iec104-master';
import { hostPortOption } from './host-port-option';
import { Cause, TypeId } from '../drivers/iec104';

function int(name: string, v: unknown, fallback: number, max: number): number {
  if (typeof v !== 'string') return fallback;
  const n = /^\d+$/.test(v) ? Number(v) : NaN;
  if (!(n >= 0 && n <= max)) throw usageError(`--${name} ${v}: expected an integer 0..${max}`);
  return n;
}

/** `lab rtu --iec104 --listen HOST:PORT [--ca N] [--tick MS]`. */
export async function runIec104Rtu(ctx: CommandContext): Promise<number> {
  if (typeof ctx.options.listen !== 'string') throw usageError('--listen HOST:PORT is required');
  const { host, port } = hostPortOption(ctx.options.listen, '--listen', { allowZero: true });
  const rtu = await startIec104Rtu({ host, port, ca: int('ca', ctx.options.ca, 1, 65535), tickMs: int('tick', ctx.options.tick, 1000, 3_600_000) });
  const a = rtu.address();
  ctx.out(`iec104 rtu listening on ${a.address}:${a.port}`);
  await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
  await rtu.close();
  return 0;
}

const REFUSALS: Record<number, string> = {
  [Cause.ACTIVATION_CON]: 'negative activation confirmation', [Cause.DEACTIVATION_CON]: 'negative deactivation confirmation',
  [Cause.UNKNOWN_TYPE]: 'unknown type', [Cause.UNKNOWN_CAUSE]: 'unknown cause', [Cause.UNKNOWN_COMMON_ADDRESS]: 'unknown common address', [Cause.UNKNOWN_IOA]: 'unknown IOA',
};
const line = (r: ReceivedAsdu): string => `${r.name} cause ${r.cause}${r.negative ? ' P/N' : ''} ioa ${r.ioa.join(',')}`;

/** `lab master --iec104 --to HOST:PORT [--from ADDR] [--ca N] (--interrogate | --command IOA=0|1 | --setpoint IOA=VALUE) [--direct]`. */
export async function runIec104Master(ctx: CommandContext): Promise<number> {
  const o = ctx.options;
  if (typeof o.to !== 'string') throw usageError('--to HOST:PORT is required');
  const { host, port } = hostPortOption(o.to, '--to');
  const chosen = ['interrogate', 'command', 'setpoint'].filter((k) => o[k] !== undefined && o[k] !== false);
  if (chosen.length !== 1) throw usageError('give exactly one of --interrogate, --command and --setpoint');
  const ca = int('ca', o.ca, 1, 65535);
  const sbo = o.direct !== true;
  let what: string;
  let exchange: (m: Iec104Master) => Promise<ReceivedAsdu[]>;
  if (chosen[0] === 'interrogate') {
    what = 'general interrogation';
    exchange = (m) => m.interrogate(ca);
  } else {
    const v = /^(\d+)=(-?\d+(?:\.\d+)?)$/.exec(String(o[chosen[0]]));
    if (!v) throw usageError(`--${chosen[0]} ${String(o[chosen[0]])}: expected IOA=VALUE`);
    const ioa = int(chosen[0], v[1], 0, 0xffffff), value = Number(v[2]);
    const type = chosen[0] === 'command' ? TypeId.C_SC_NA_1 : TypeId.C_SE_NC_1;
    if (type === TypeId.C_SC_NA_1 && value !== 0 && value !== 1) throw usageError(`--command ${String(o.command)}: a single command is 0 or 1`);
    what = `${sbo ? 'select + execute' : 'direct execute'} ${chosen[0] === 'command' ? 'single command' : 'set-point'} ${ioa} = ${value}`;
    exchange = async (m) => (sbo ? m.selectExecute({ type, ioa, value, ca }) : [await m.command({ type, ioa, value, ca })]);
  }
  const from = typeof o.from === 'string' ? o.from : undefined;
  let master: Iec104Master;
  try {
    master = await connectIec104Master({ host, port, localAddress: from, timeoutMs: int('timeout', o.timeout, 5000, 600_000) });
  } catch (e) {
    ctx.err(`cannot connect to ${o.to}${from ? ` from ${from}` : ''}: ${(e as Error).message}`);
    return 1;
  }
  try {
    const got = await exchange(master);
    const refused = got.find((r) => r.negative);
    const ok = refused === undefined;
    if (ctx.json) ctx.printJson({ request: what, from: from ?? null, to: o.to, ok, asdus: got });
    else if (!ok) ctx.out(`${what}: refused, ${REFUSALS[refused.cause] ?? `cause ${refused.cause}`} (${line(refused)})`);
    else ctx.out(`${what}: ${got.map(line).join('; ')}`);
    return ok ? 0 : 1;
  } catch (e) {
    if (ctx.json) ctx.printJson({ request: what, from: from ?? null, to: o.to, ok: false, error: (e as Error).message });
    else ctx.out(`${what}: refused, ${(e as Error).message}`);
    return 1;
  } finally {
    master.close();
  }
}
