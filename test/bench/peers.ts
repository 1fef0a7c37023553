/**
 * What the proxy benches share: child processes that print `READY PORT`, free loopback ports, and
 * HAProxy in TCP mode (one thread) as the peer in front of the same upstream. Every child started
 * here is pushed on the caller's `children` list, which the bench stops at its end.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort } from '../helpers/ports';
export { freePort };

/** Starts `cmd` and resolves with the port it prints as `READY PORT`; rejects if it exits first. */
export function spawnReady(children: ChildProcess[], cmd: string, args: string[]): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /READY (\d+)/.exec(out);
      if (m) resolve({ child, port: Number(m[1]) });
    });
    child.on('exit', (code) => reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${out}`)));
  });
}

/** A loopback port free a moment ago. */
/** Resolves once 127.0.0.1:port accepts a connection (5 s at most). */
export async function waitListening(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((r) => {
      const s = connect({ host: '127.0.0.1', port }, () => { s.destroy(); r(true); });
      s.on('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listening on ${port}`);
}

/** HAProxy (TCP mode, one thread) in front of 127.0.0.1:upstreamPort; null where it is not installed. */
export async function startHaproxy(children: ChildProcess[], upstreamPort: number, dir: string, server = 'upstream'): Promise<{ child: ChildProcess; port: number } | null> {
  if (spawnSync('haproxy', ['-v']).error) return null;
  const port = await freePort();
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(cfg, [
    'global', '  nbthread 1', '  maxconn 4000', '',
    'defaults', '  mode tcp', '  timeout connect 5s', '  timeout client 60s', '  timeout server 60s', '',
    'frontend fe', `  bind 127.0.0.1:${port}`, '  default_backend be', '',
    'backend be', `  server ${server} 127.0.0.1:${upstreamPort}`, '',
  ].join('\n'));
  const child = spawn('haproxy', ['-db', '-f', cfg], { stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(child);
  await waitListening(port);
  return { child, port };
}
