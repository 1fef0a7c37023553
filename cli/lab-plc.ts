import type { Command } from './framework';
import { usageError } from './framework';
import { startPlcSim } from '../runtime/lab/plc-sim';
import { hostPortOption } from './host-port-option';

/** `zonegate lab plc`: a PLC simulator for labs, demos and commissioning dry runs. */
export const labPlcCommand: Command = {
  path: ['lab', 'plc'],
  summary: 'run a Modbus/TCP PLC simulator (labs and demos; values change over time)',
  usage: 'lab plc --listen HOST:PORT [--unit N]...',
  description: `Serves 10,000 holding registers (register i starts at 1000 + i % 1000), input registers
whose first three follow a slow process (current, voltage, temperature), coils and discrete inputs.
Runs in the foreground until interrupted; prints one line when listening.`,
  options: {
    listen: { type: 'string', value: 'HOST:PORT', description: 'address to listen on, e.g. 127.0.0.1:16020' },
    unit: { type: 'string', multiple: true, value: 'N', description: 'unit id to answer (default: all)' },
  },
  async run(ctx) {
    const listen = ctx.options.listen;
    if (typeof listen !== 'string') throw usageError('--listen HOST:PORT is required');
    const { host, port } = hostPortOption(listen, '--listen', { allowZero: true });
    const units = ((ctx.options.unit as string[] | undefined) ?? []).map((u) => {
      const n = Number(u);
      if (!Number.isInteger(n) || n < 0 || n > 255) throw usageError(`--unit ${u}: a unit id is 0..255`);
      return n;
    });
    const sim = await startPlcSim({ host, port, units: units.length ? units : undefined });
    const a = sim.address();
    ctx.out(`plc simulator listening on ${a.address}:${a.port}`);
    await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
    await sim.close();
    return 0;
  },
};
