/**
 * The listen step every TCP listener of the gateway shares (the Modbus proxy and the DNP3 /
 * IEC 104 listener through drivers/proxy-listener.ts, the TCP conduit): create the server, listen,
 * and once listening send later server errors to the driver, start the periodic sweep, announce
 * the bound address and stop the driver when the start signal aborts. What a driver does with an
 * accepted socket, its audit records and its shutdown drain stay the driver's.
 */
import { createServer, type AddressInfo, type Server, type ServerOpts, type Socket } from 'node:net';

/** Timers a listener uses for its periodic sweep (injected so tests can drive time). */
export interface SweepTimers {
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

/** The global timers. */
export const globalTimers: SweepTimers = {
  setInterval: (fn: () => void, ms: number) => setInterval(fn, ms),
  clearInterval: (h: unknown) => clearInterval(h as NodeJS.Timeout),
};

/** IPv4-mapped IPv6 addresses (::ffff:a.b.c.d, RFC 4291 section 2.5.5.2) as the IPv4 address the policy names. */
export function plainAddress(address: string | undefined): string {
  if (address === undefined) return '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

export interface ListeningServerOptions {
  listen: { host: string; port: number };
  /** net.createServer's options (noDelay for the proxies, allowHalfOpen for the conduit). */
  server: ServerOpts;
  /** The connection handler. */
  accept(socket: Socket): void;
  /** Runs every `everyMs` while listening, on an unref'd timer (a proxy's deadline sweep, the conduit's re-check); none when null. */
  sweep: { run(): void; everyMs: number; timers: SweepTimers } | null;
  /** A server error once listening (an error on listen rejects listen() instead). */
  failed(err: Error): void;
  /** Listening on `bound` (the real port when listen.port was 0): the driver's audit record. */
  listening(bound: AddressInfo): void;
  /** The start signal aborted once listening. */
  stop(): void;
}

/** One server and its sweep timer; the driver guards against a second start and owns the shutdown. */
export class ListeningServer {
  private srv: Server | null = null;
  private where: AddressInfo | null = null;
  private sweepHandle: unknown = null;

  constructor(private readonly o: ListeningServerOptions) {}

  /** The server since listen() was called (null before, and again after listen failed): the drain closes it. */
  get server(): Server | null {
    return this.srv;
  }

  /** The bound address once listen() resolved, else null. */
  get bound(): AddressInfo | null {
    return this.where;
  }

  /**
   * Creates the server and listens. Resolves once listening, with the sweep started, listening()
   * told and `signal` wired to stop(); rejects with the listen error (EADDRINUSE...), and then
   * holds no server, so listen() may be called again.
   */
  listen(signal: AbortSignal): Promise<void> {
    const srv = createServer(this.o.server, this.o.accept);
    this.srv = srv;
    return new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => { this.srv = null; reject(err); };
      srv.once('error', onError);
      srv.listen({ host: this.o.listen.host, port: this.o.listen.port }, () => {
        srv.off('error', onError);
        this.listening(srv, signal);
        resolve();
      });
    });
  }

  private listening(srv: Server, signal: AbortSignal): void {
    srv.on('error', (err) => this.o.failed(err));
    const bound = srv.address() as AddressInfo;
    this.where = bound;
    const sweep = this.o.sweep;
    if (sweep !== null) {
      this.sweepHandle = sweep.timers.setInterval(sweep.run, sweep.everyMs);
      (this.sweepHandle as { unref?: () => void } | null)?.unref?.();
    }
    this.o.listening(bound);
    signal.addEventListener('abort', () => this.o.stop(), { once: true });
  }

  /** Stops the sweep timer (the drivers' stop() does, before or after their drain). */
  stopSweep(): void {
    if (this.sweepHandle !== null) this.o.sweep?.timers.clearInterval(this.sweepHandle);
    this.sweepHandle = null;
  }
}
