/**
 * Throwaway network namespaces for tests and benches: unique names (`zgt-<role>-<pid>-<random>`),
 * veth pairs created directly between namespaces (nothing is added to the root namespace),
 * node programs run inside them, and cleanup that runs on success, failure and process exit.
 * Traffic stays inside namespaces this helper made.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';

/** Why namespaces cannot be used here (not root, no ip, no nft), or undefined when they can. */
export function netnsUnavailable(opts: { needNft?: boolean } = {}): string | undefined {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'not root (network namespaces need CAP_NET_ADMIN)';
  const ip = spawnSync('ip', ['-V'], { encoding: 'utf8' });
  if (ip.error || ip.status !== 0) return 'iproute2 `ip` not found';
  if (opts.needNft !== false) {
    const nft = spawnSync('nft', ['--version'], { encoding: 'utf8' });
    if (nft.error || nft.status !== 0) return '`nft` not found';
  }
  const probe = `zgt-probe-${randomBytes(3).toString('hex')}`;
  const add = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (add.status !== 0) return `cannot create a network namespace: ${(add.stderr || '').trim()}`;
  spawnSync('ip', ['netns', 'del', probe]);
  return undefined;
}

export interface RunResult { code: number; stdout: string; stderr: string }

/** One running program inside a namespace, with its stdout lines. */
export interface NsProcess {
  child: ChildProcess;
  lines: string[];
  /** Resolves with the first line (already seen or future) that passes `match`. */
  waitFor(match: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  /** Closes its stdin (the programs' signal to finish) and kills it after `graceMs` (default 3 s). */
  stop(graceMs?: number): Promise<void>;
}

export interface Lab {
  readonly suffix: string;
  /** Creates namespace `zgt-<role>-<pid>-<random>` with loopback up; returns its name. */
  ns(role: string): string;
  /** A veth pair between two namespaces (names are per-namespace, so short ones are fine). */
  veth(a: { ns: string; ifname: string }, b: { ns: string; ifname: string }): void;
  /** Runs `ip`-style commands synchronously inside a namespace; throws on failure. */
  sh(ns: string, argv: string[]): string;
  /** Runs a program inside a namespace to completion (bounded by timeoutMs). */
  run(ns: string, argv: string[], opts?: { input?: string; timeoutMs?: number }): Promise<RunResult>;
  /** Starts a node script inside a namespace (`node -e script arg`). */
  node(ns: string, script: string, arg: unknown): NsProcess;
  /** Runs a node script inside a namespace and parses the JSON it prints last. */
  nodeJson<T>(ns: string, script: string, arg: unknown, timeoutMs?: number): Promise<T>;
  /** Stops every process and deletes every namespace this lab made. Idempotent, synchronous. */
  cleanup(): void;
}

/** Deletes `zgt-<role>-<pid>-<random>` namespaces whose process is gone (killed with SIGKILL, say). */
function removeOrphans(): void {
  const list = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  for (const line of list.split('\n')) {
    const m = /^(zgt-[a-z0-9]+-(\d+)-[0-9a-f]+)\b/.exec(line);
    if (!m) continue;
    let alive = true;
    try { process.kill(Number(m[2]), 0); } catch (e) { alive = (e as NodeJS.ErrnoException).code !== 'ESRCH'; }
    if (!alive) spawnSync('ip', ['netns', 'del', m[1]]);
  }
}

/**
 * A lab of namespaces named `zgt-<role>-<pid>-<random>`, cleaned up by cleanup() and, failing
 * that, on process exit; orphans of a killed run are removed when the next lab starts.
 */
export function createLab(): Lab {
  removeOrphans();
  const suffix = `${process.pid}-${randomBytes(3).toString('hex')}`;
  const namespaces: string[] = [];
  const children = new Set<ChildProcess>();
  let cleaned = false;

  const cleanup = () => {
    if (cleaned) return;
    cleaned = true;
    for (const c of children) { try { if (c.pid) process.kill(c.pid, 'SIGKILL'); } catch { /* gone */ } }
    // Killing the namespace's processes first lets `ip netns del` free it at once.
    for (const ns of namespaces) {
      const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout ?? '';
      for (const p of pids.split('\n').map((s) => Number(s)).filter((n) => n > 0)) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
      spawnSync('ip', ['netns', 'del', ns]);
    }
    process.removeListener('exit', cleanup);
  };
  process.on('exit', cleanup);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => { cleanup(); process.exit(130); });

  const sh = (ns: string, argv: string[]): string => {
    const r = spawnSync('ip', ['netns', 'exec', ns, ...argv], { encoding: 'utf8', timeout: 20_000 });
    if (r.status !== 0) throw new Error(`in ${ns}: ${argv.join(' ')} failed: ${(r.stderr || r.error?.message || '').trim()}`);
    return r.stdout;
  };

  const run = (ns: string, argv: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<RunResult> =>
    new Promise((resolve) => {
      const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['pipe', 'pipe', 'pipe'] });
      children.add(child);
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (d) => { stdout += d; });
      child.stderr!.on('data', (d) => { stderr += d; });
      const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
      child.on('close', (code) => { clearTimeout(timer); children.delete(child); resolve({ code: code ?? -1, stdout, stderr }); });
      child.stdin!.on('error', () => { /* exited early */ });
      child.stdin!.end(opts.input ?? '');
    });

  const node = (ns: string, script: string, arg: unknown): NsProcess => {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script, JSON.stringify(arg)], { stdio: ['pipe', 'pipe', 'pipe'] });
    children.add(child);
    const lines: string[] = [];
    const waiters: { match: (l: string) => boolean; resolve: (l: string) => void }[] = [];
    let buf = '';
    let stderr = '';
    child.stdout!.on('data', (d) => {
      buf += d;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        lines.push(line);
        for (const w of waiters.slice()) if (w.match(line)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(line); }
      }
    });
    child.stderr!.on('data', (d) => { stderr += d; });
    const exited = new Promise<void>((resolve) => child.on('close', () => { children.delete(child); resolve(); }));
    child.stdin!.on('error', () => { /* exited early */ });
    return {
      child,
      lines,
      waitFor(match, timeoutMs = 10_000) {
        const seen = lines.find(match);
        if (seen !== undefined) return Promise.resolve(seen);
        return new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no matching line within ${timeoutMs} ms; stdout: ${lines.join(' / ')}; stderr: ${stderr.trim()}`)), timeoutMs);
          waiters.push({ match, resolve: (l) => { clearTimeout(timer); resolve(l); } });
          exited.then(() => setTimeout(() => { clearTimeout(timer); reject(new Error(`exited; stdout: ${lines.join(' / ')}; stderr: ${stderr.trim()}`)); }, 50));
        });
      },
      async stop(graceMs = 3000) {
        child.stdin!.end();
        const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(t);
      },
    };
  };

  const nodeJson = async <T>(ns: string, script: string, arg: unknown, timeoutMs = 15_000): Promise<T> => {
    const r = await run(ns, [process.execPath, '-e', script, JSON.stringify(arg)], { timeoutMs });
    const last = r.stdout.trim().split('\n').pop() ?? '';
    try { return JSON.parse(last) as T; } catch { throw new Error(`no JSON from node in ${ns} (exit ${r.code}): ${r.stdout} ${r.stderr}`); }
  };

  return {
    suffix,
    ns(role) {
      const name = `zgt-${role}-${suffix}`;
      const r = spawnSync('ip', ['netns', 'add', name], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`ip netns add ${name}: ${r.stderr.trim()}`);
      namespaces.push(name);
      // No IPv6 duplicate address detection: link-local addresses are usable at once (DAD would
      // hold neighbour discovery, and so the first IPv6 connection, for about a second).
      sh(name, ['sysctl', '-q', '-w', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0']);
      sh(name, ['ip', 'link', 'set', 'lo', 'up']);
      return name;
    },
    veth(a, b) {
      const r = spawnSync('ip', ['-n', a.ns, 'link', 'add', a.ifname, 'type', 'veth', 'peer', 'name', b.ifname, 'netns', b.ns], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`veth ${a.ns}/${a.ifname} - ${b.ns}/${b.ifname}: ${r.stderr.trim()}`);
      sh(a.ns, ['ip', 'link', 'set', a.ifname, 'up']);
      sh(b.ns, ['ip', 'link', 'set', b.ifname, 'up']);
    },
    sh,
    run,
    node,
    nodeJson,
    cleanup,
  };
}

/**
 * Node programs the tests run inside namespaces (each reads one JSON argument from argv[1]).
 * All are bounded: clients time out, servers stop when their stdin closes.
 */
export const programs = {
  /** TCP servers on every port in `ports` (dual stack): greets `hello <peer>\n`, then echoes; logs `conn <port> <peer>`. */
  server: `
    const net = require('net');
    const { ports } = JSON.parse(process.argv[1]);
    let up = 0;
    for (const port of ports) {
      const s = net.createServer((c) => {
        const peer = c.remoteAddress.replace(/^::ffff:/, '');
        console.log('conn ' + port + ' ' + peer);
        c.on('error', () => {});
        c.write('hello ' + peer + '\\n');
        c.pipe(c);
      });
      s.listen({ port, host: '::', ipv6Only: false }, () => { if (++up === ports.length) console.log('ready'); });
    }
    process.stdin.on('end', () => process.exit(0)); process.stdin.resume();
  `,
  /** A byte-splicing TCP proxy: listen { host, port } → upstream { host, port }; logs `proxied <peer>`. */
  proxy: `
    const net = require('net');
    const { listen, upstream } = JSON.parse(process.argv[1]);
    const s = net.createServer((c) => {
      console.log('proxied ' + c.remoteAddress.replace(/^::ffff:/, ''));
      const u = net.connect(upstream);
      c.on('error', () => u.destroy()); u.on('error', () => c.destroy());
      c.pipe(u).pipe(c);
    });
    s.listen(listen, () => console.log('ready'));
    process.stdin.on('end', () => process.exit(0)); process.stdin.resume();
  `,
  /**
   * A client agent: one JSON request per stdin line ({ id, host, port, localAddress, timeoutMs,
   * message }), one connection each: read the greeting, send `message`, read the echo; prints
   * `result ID { ok, greeting, echo }` or `result ID { ok: false, error }`. Prints `ready` first.
   */
  clients: `
    const net = require('net');
    require('readline').createInterface({ input: process.stdin })
      .on('line', (line) => {
        const { id, host, port, localAddress, timeoutMs, message } = JSON.parse(line);
        let settled = false;
        const done = (r) => { if (!settled) { settled = true; console.log('result ' + id + ' ' + JSON.stringify(r)); } };
        const c = net.connect({ host, port, localAddress });
        let data = '';
        const t = setTimeout(() => { c.destroy(); done({ ok: false, error: 'timeout' }); }, timeoutMs);
        c.on('error', (e) => { clearTimeout(t); done({ ok: false, error: e.code || e.message }); });
        c.on('connect', () => c.write(message));
        c.on('data', (d) => {
          data += d;
          const nl = data.indexOf('\\n');
          if (nl >= 0 && data.length >= nl + 1 + message.length) {
            clearTimeout(t); c.destroy();
            done({ ok: true, greeting: data.slice(0, nl), echo: data.slice(nl + 1) });
          }
        });
      })
      .on('close', () => process.exit(0));
    console.log('ready');
  `,
  /** One long-lived connection (from `localAddress`) sending a byte every 20 ms; prints `ready`, then `echo N` per echo. */
  pinger: `
    const net = require('net');
    const { host, port, localAddress } = JSON.parse(process.argv[1]);
    const c = net.connect({ host, port, localAddress });
    let n = 0, greeted = false;
    c.on('error', (e) => console.log('error ' + (e.code || e.message)));
    c.on('data', () => {
      if (!greeted) { greeted = true; console.log('ready'); setInterval(() => c.write('x'), 20); return; }
      console.log('echo ' + (++n));
    });
    process.stdin.on('end', () => process.exit(0)); process.stdin.resume();
  `,
  /**
   * Until stdin closes: a tight loop of fresh connections (connect, greeting, close) and one
   * long-lived connection echoing a ping every few ms. Prints ready, then a JSON summary.
   */
  loop: `
    const net = require('net');
    const { host, port, timeoutMs } = JSON.parse(process.argv[1]);
    const r = { attempts: 0, ok: 0, failures: [], pings: 0, pingFailures: [] };
    let stopping = false;
    function once() {
      if (stopping) return;
      r.attempts++;
      const c = net.connect({ host, port });
      const t = setTimeout(() => { c.destroy(); r.failures.push('timeout'); once(); }, timeoutMs);
      c.on('error', (e) => { clearTimeout(t); r.failures.push(e.code || e.message); setImmediate(once); });
      c.once('data', () => { clearTimeout(t); r.ok++; c.destroy(); setImmediate(once); });
    }
    const p = net.connect({ host, port });
    let pending = false, pt;
    p.on('error', (e) => { r.pingFailures.push(e.code || e.message); });
    p.once('data', () => {
      console.log('ready');
      const tick = () => {
        if (stopping) return;
        pending = true; p.write('x');
        pt = setTimeout(() => { r.pingFailures.push('ping timeout'); }, timeoutMs);
      };
      p.on('data', () => { if (pending) { pending = false; clearTimeout(pt); r.pings++; setTimeout(tick, 2); } });
      tick();
      once();
    });
    process.stdin.on('end', () => {
      stopping = true;
      setTimeout(() => { p.destroy(); console.log(JSON.stringify(r)); process.exit(0); }, timeoutMs + 100);
    });
    process.stdin.resume();
  `,
};

/** The three-namespace site the nftables tests and bench use. Addresses live only inside these namespaces. */
export interface ClientResult { ok: boolean; greeting?: string; echo?: string; error?: string }
export interface ClientAgent {
  /** One connection from the agent's namespace (see programs.clients). */
  connect(o: { host: string; port: number; localAddress?: string; timeoutMs: number; message: string }): Promise<ClientResult>;
  stop(): Promise<void>;
}

/**
 * Starts a client agent in `ns`: connections are made by one long-lived node process instead of
 * one `ip netns exec node` per connection (the nftables test made about 60, and their starts were
 * most of its time beside a second suite).
 */
export async function startClientAgent(lab: Lab, ns: string): Promise<ClientAgent> {
  const p = lab.node(ns, programs.clients, null);
  await p.waitFor((l) => l === 'ready');
  let next = 0;
  return {
    async connect(o) {
      const id = ++next;
      const seen = p.waitFor((l) => l.startsWith(`result ${id} `), o.timeoutMs + 15_000);
      p.child.stdin!.write(`${JSON.stringify({ id, ...o })}\n`);
      return JSON.parse((await seen).slice(`result ${id} `.length)) as ClientResult;
    },
    stop: () => p.stop(),
  };
}

export interface Site {
  ent: string;
  gw: string;
  ctl: string;
  /** The gateway's interface names, per zone. */
  ifaces: { enterprise: string; control: string };
}

/**
 * enterprise host (10.20.0.10, 10.20.0.66, fd00:20::10) ─ ent0 [gateway, forwarding] ctl0 ─
 * control host (10.10.1.20, 10.10.1.21, fd00:10::20). The gateway is 10.20.0.1 / 10.10.1.1
 * (fd00:20::1 / fd00:10::1) and the default route of both hosts.
 */
export function buildSite(lab: Lab): Site {
  const ent = lab.ns('ent');
  const gw = lab.ns('gw');
  const ctl = lab.ns('ctl');
  lab.veth({ ns: ent, ifname: 'e0' }, { ns: gw, ifname: 'ent0' });
  lab.veth({ ns: ctl, ifname: 'c0' }, { ns: gw, ifname: 'ctl0' });
  const addr = (ns: string, dev: string, cidr: string) => lab.sh(ns, ['ip', 'addr', 'add', cidr, 'dev', dev, ...(cidr.includes(':') ? ['nodad'] : [])]);
  addr(ent, 'e0', '10.20.0.10/24'); addr(ent, 'e0', '10.20.0.66/24'); addr(ent, 'e0', 'fd00:20::10/64');
  addr(gw, 'ent0', '10.20.0.1/24'); addr(gw, 'ent0', 'fd00:20::1/64');
  addr(gw, 'ctl0', '10.10.1.1/24'); addr(gw, 'ctl0', 'fd00:10::1/64');
  addr(ctl, 'c0', '10.10.1.20/24'); addr(ctl, 'c0', '10.10.1.21/24'); addr(ctl, 'c0', 'fd00:10::20/64');
  lab.sh(ent, ['ip', 'route', 'add', 'default', 'via', '10.20.0.1']);
  lab.sh(ent, ['ip', '-6', 'route', 'add', 'default', 'via', 'fd00:20::1']);
  lab.sh(ctl, ['ip', 'route', 'add', 'default', 'via', '10.10.1.1']);
  lab.sh(ctl, ['ip', '-6', 'route', 'add', 'default', 'via', 'fd00:10::1']);
  lab.sh(gw, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
  lab.sh(gw, ['sysctl', '-q', '-w', 'net.ipv6.conf.all.forwarding=1']);
  return { ent, gw, ctl, ifaces: { enterprise: 'ent0', control: 'ctl0' } };
}
