/**
 * Runs the `nft` binary (inside a network namespace through `ip netns exec` when asked) with a
 * script on standard input, and classifies failures: nft missing or no privilege means nftables
 * is unavailable (the runtime logs it and the proxies still enforce); anything else is nft's
 * own complaint about the ruleset.
 */
import { spawn } from 'node:child_process';
import { ZonegateError } from '../../policy/errors';

export interface NftCommandOptions {
  /** The nft binary. Default `nft` (looked up on PATH). */
  nft?: string;
  /** Run inside this network namespace (`ip netns exec NS nft ...`). */
  netns?: string;
  /** The `ip` binary for netns. Default `ip`. */
  ip?: string;
  /** Kill nft after this long. Default 60 s. */
  timeoutMs?: number;
}

export interface NftOutput { code: number; stdout: string; stderr: string }

const NETNS = /^[A-Za-z0-9_.-]{1,64}$/;
/** Most output kept from nft (a 10,000-conduit listing is a few MiB). */
const MAX_OUTPUT = 64 * 1024 * 1024;

/** The error the runtime logs when the kernel side cannot be used at all. */
export function nftUnavailable(reason: string, cause?: unknown): ZonegateError {
  return new ZonegateError('ERR_NFT', `nftables unavailable: ${reason}; the proxies still enforce`, { cause });
}

/** True when nft's complaint means "not allowed" or "no nftables here", not "bad ruleset". */
export function looksUnavailable(stderr: string): boolean {
  return /Operation not permitted|Permission denied|cannot open Netlink socket|Protocol not supported|Could not open netlink socket|are you root/i.test(stderr);
}

/** Runs nft with `args`, writing `input` to its stdin; resolves with its exit code and output. */
export function runNft(args: readonly string[], input: string | undefined, opts: NftCommandOptions = {}): Promise<NftOutput> {
  const nft = opts.nft ?? 'nft';
  if (opts.netns !== undefined && !NETNS.test(opts.netns)) throw new TypeError(`bad netns name ${JSON.stringify(opts.netns)}`);
  const [cmd, argv] = opts.netns !== undefined
    ? [opts.ip ?? 'ip', ['netns', 'exec', opts.netns, nft, ...args]]
    : [nft, [...args]];
  return new Promise((resolve, reject) => {
    let child;
    try {
      child = spawn(cmd, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (e) {
      reject(nftUnavailable(`cannot run ${cmd}: ${(e as Error).message}`, e));
      return;
    }
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    const keep = (into: Buffer[]) => (d: Buffer) => { size += d.length; if (size <= MAX_OUTPUT) into.push(d); };
    child.stdout.on('data', keep(out));
    child.stderr.on('data', keep(err));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (e.code === 'ENOENT' || e.code === 'EACCES') reject(nftUnavailable(`${cmd} not found or not executable (${e.code})`, e));
      else reject(new ZonegateError('ERR_NFT', `cannot run ${cmd}: ${e.message}`, { cause: e }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const res = { code: code ?? -1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
      if (signal) res.stderr += `\n(nft killed by ${signal})`;
      // `ip netns exec` reports a missing nft binary as exit 255 with execvp's message.
      if (opts.netns !== undefined && /exec of ".*" failed: No such file/.test(res.stderr)) {
        reject(nftUnavailable(`${nft} not found in netns ${opts.netns}`));
        return;
      }
      resolve(res);
    });
    child.stdin.on('error', () => { /* nft exited before reading everything: its exit code says why */ });
    child.stdin.end(input ?? '');
  });
}

/** The first few meaningful lines of nft's complaint, for an error message. */
export function summarize(stderr: string, maxLines = 6): string {
  const lines = stderr.split('\n').map((l) => l.trimEnd()).filter((l) => l.trim() !== '');
  return lines.slice(0, maxLines).join(' | ') + (lines.length > maxLines ? ` | (+${lines.length - maxLines} lines)` : '');
}
