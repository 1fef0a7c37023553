/**
 * Which of the interface names a ruleset uses (zone and management interfaces) this device lacks.
 * The ruleset stays closed either way (input.ts), but a zone whose interface is missing is
 * mis-described, so the runtime raises an alarm. The host's list is /sys/class/net; inside a
 * network namespace (tests) it is `ip -n NS -o link show`.
 */
import { execFile } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import type { NftCommandOptions } from './run-nft';

/** The device's interface names, or undefined when they cannot be listed (then nothing is claimed missing). */
export async function deviceInterfaces(opts: Pick<NftCommandOptions, 'netns' | 'ip'> = {}): Promise<Set<string> | undefined> {
  if (opts.netns === undefined) {
    try { return new Set(await fsp.readdir('/sys/class/net')); } catch { return undefined; }
  }
  const out = await new Promise<string | undefined>((resolve) => {
    execFile(opts.ip ?? 'ip', ['-n', opts.netns!, '-o', 'link', 'show'], { timeout: 10_000 }, (e, stdout) => resolve(e ? undefined : stdout));
  });
  if (out === undefined) return undefined;
  // `2: ctl0@if5: <BROADCAST,...> mtu 1500 ...`
  return new Set(out.split('\n').map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1]).filter((n): n is string => n !== undefined));
}

/** The names in `wanted` that the device does not have, sorted; [] when the list is unavailable. */
export async function missingInterfaces(wanted: Iterable<string>, opts: Pick<NftCommandOptions, 'netns' | 'ip'> = {}): Promise<string[]> {
  const have = await deviceInterfaces(opts);
  if (!have) return [];
  return Array.from(new Set(wanted)).filter((n) => !have.has(n)).sort();
}
