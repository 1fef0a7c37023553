/**
 * Free TCP ports on 127.0.0.1 for the peers and listeners a test, a bench or `make demo` starts.
 *
 * Picked at random below the kernel's ephemeral range (32768 and up on Linux), so the client
 * sockets of this and a second suite (or demo) running beside it never take a port between the check here
 * and the bind that uses it; and never the same port twice in one test process (two listeners of
 * one config once got the same port from two bind(0) calls and the config was refused).
 */
import { createServer } from 'node:net';

const LOW = 20_000;
const HIGH = 32_000;
const handedOut = new Set<number>();

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen({ port, host: '127.0.0.1', exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/** A TCP port on 127.0.0.1 that nothing listens on now and this process has not been given before. */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 1000; i++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    if (await canBind(port)) return port;
  }
  throw new Error(`no free TCP port on 127.0.0.1 between ${LOW} and ${HIGH} after 1000 tries`);
}
