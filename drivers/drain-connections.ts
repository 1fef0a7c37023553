/**
 * A proxy's shutdown, shared by the Modbus proxy and the DNP3 / IEC 104 listener: the server stops
 * accepting, each connection stops reading new requests, the requests in flight get up to
 * `drainMs` to finish (real time: this runs at shutdown, not on the hot path), then every
 * connection is closed. Resolves when the server has closed.
 */
import type { Server } from 'node:net';

export interface DrainableConnection {
  readonly inFlight: number;
  drain(): void;
  close(reason: string): void;
}

export async function drainConnections(server: Server | null, connections: ReadonlySet<DrainableConnection>, drainMs: number): Promise<void> {
  const closed = server === null ? Promise.resolve() : new Promise<void>((resolve) => server.close(() => resolve()));
  for (const conn of connections) conn.drain();
  const deadline = Date.now() + drainMs;
  while (Date.now() < deadline && [...connections].some((c) => c.inFlight > 0)) await new Promise((r) => setTimeout(r, 10));
  for (const conn of [...connections]) conn.close('proxy stopped');
  await closed;
}
