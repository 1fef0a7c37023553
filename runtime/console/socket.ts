/**
 * A console on a unix socket (`zonegate console --socket PATH`): each connection gets its own
 * console (login first), at most `maxSessions` at once; the socket file is made mode 0600 so only
 * the owner (root) can connect.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { promises as fsp } from 'node:fs';
import { runConsole, type ConsoleHandle, type ConsoleOptions } from './shell';

export interface ConsoleSocket {
  close(): Promise<void>;
  readonly sessions: number;
}

/** Listens on `path` (a stale socket file is replaced). */
export async function listenConsoleSocket(opts: { path: string; maxSessions?: number } & Omit<ConsoleOptions, 'input' | 'output' | 'where'>): Promise<ConsoleSocket> {
  const max = opts.maxSessions ?? 4;
  const live = new Map<Socket, ConsoleHandle>();
  await fsp.rm(opts.path, { force: true });
  const server: Server = createServer((sock) => {
    if (live.size >= max) { sock.end(`too many console sessions (${max})\r\n`); return; }
    const h = runConsole({ ...opts, input: sock, output: sock, where: `socket:${opts.path}`, persistent: false });
    live.set(sock, h);
    sock.on('error', () => undefined);
    void h.done.finally(() => { live.delete(sock); sock.end(); });
  });
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(opts.path, () => { server.off('error', reject); resolve(); }); });
  await fsp.chmod(opts.path, 0o600);
  return {
    get sessions() { return live.size; },
    async close() {
      for (const [s, h] of live) { h.close(); s.destroy(); }
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
