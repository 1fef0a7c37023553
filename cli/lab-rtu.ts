import type { Command } from './framework';
import { usageError } from './framework';
import { startOutstation } from '../runtime/lab/dnp3-outstation';
import { hostPortOption } from './host-port-option';
import { runIec104Rtu } from './lab-iec104';

/** `zonegate lab rtu --dnp3` / `--iec104`: a DNP3 outstation or an IEC 104 RTU for labs, demos and the drivers' tests. */
export const labRtuCommand: Command = {
  path: ['lab', 'rtu'],
  summary: 'run a DNP3 outstation or IEC 104 RTU simulator over TCP (labs and demos)',
  usage: 'lab rtu (--dnp3 [--address N] | --iec104 [--ca N]) --listen HOST:PORT [--tick MS]',
  description: `An IEEE 1815 outstation: 8 binary inputs, 8 binary outputs (CROB g12), 4 counters, 4 analog
inputs and 4 analog outputs (g41) whose inputs change every --tick ms (events in class 1,
unsolicited responses once a master enables them), select-before-operate and direct operate,
time sync, restart IIN.
With --iec104, an IEC 60870-5-104 controlled station (common address --ca, default 1): single
points IOA 100-107, measured values IOA 200-203 that change every --tick ms and are sent
spontaneously, general interrogation, read, single/double commands on IOA 1000-1007 and
set-points on IOA 2000-2003 with select/execute, clock sync and test; the rest is refused with
causes 44-47. Runs in the foreground until interrupted; prints one line when listening.`,
  options: {
    dnp3: { type: 'boolean', description: 'speak DNP3' },
    iec104: { type: 'boolean', description: 'speak IEC 60870-5-104' },
    ca: { type: 'string', value: 'N', description: 'with --iec104: the common address (default 1)' },
    listen: { type: 'string', value: 'HOST:PORT', description: 'address to listen on, e.g. 127.0.0.1:20000' },
    address: { type: 'string', value: 'N', description: 'the outstation\'s link address (default 10)' },
    tick: { type: 'string', value: 'MS', description: 'how often the inputs change (default 1000; 0: never)' },
  },
  async run(ctx) {
    if ((ctx.options.dnp3 === true) === (ctx.options.iec104 === true)) throw usageError('--dnp3 or --iec104 is required (the protocol the RTU simulator speaks over TCP)');
    if (ctx.options.iec104 === true) return runIec104Rtu(ctx);
    if (typeof ctx.options.listen !== 'string') throw usageError('--listen HOST:PORT is required');
    const { host, port } = hostPortOption(ctx.options.listen, '--listen', { allowZero: true });
    const num = (name: string, fallback: number, max: number): number => {
      const v = ctx.options[name];
      if (typeof v !== 'string') return fallback;
      const n = /^\d+$/.test(v) ? Number(v) : NaN;
      if (!(n >= 0 && n <= max)) throw usageError(`--${name} ${v}: expected an integer 0..${max}`);
      return n;
    };
    const rtu = await startOutstation({ host, port, address: num('address', 10, 65519), tickMs: num('tick', 1000, 3_600_000) });
    const a = rtu.address();
    ctx.out(`dnp3 outstation listening on ${a.address}:${a.port}`);
    await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
    await rtu.close();
    return 0;
  },
};
