/**
 * The small adaptor around `nft`: check, apply atomically, roll back, remove. The ruleset text is
 * rendered elsewhere (render.ts); this file only moves it into the kernel and keeps a copy.
 *
 * Order (nft(8): `-c` checks a script against the kernel without committing it; `-f` commits a
 * script as one transaction):
 *   1. `nft list table inet T`: the running table is saved (absent: nothing to restore); the
 *      batch that swaps the new text in without taking the hooks down is built from it (swap.ts)
 *   2. `nft -c -f -`: a refused batch changes nothing and is reported as ERR_NFT
 *   3. `nft -f -`: commits; on failure the table is listed again and, if it differs from the
 *      saved one, the saved text is swapped back in the same way
 *   4. the applied text is kept in keepDir (content-addressed, written atomically) and hashed
 */
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ZonegateError } from '../../policy/errors';
import { tableProblem } from './names';
import { looksUnavailable, nftUnavailable, runNft, summarize } from './run-nft';
import { deleteScript, swapScript } from './swap';
import type { NftCommandOptions } from './run-nft';

export type { NftCommandOptions } from './run-nft';

export interface ApplyOptions extends NftCommandOptions {
  /** The table the text replaces (saved for rollback). Default `zonegate`. */
  table?: string;
  /** Keep the applied text here as `nftables-<sha256>.nft` for audit. */
  keepDir?: string;
}

export interface ApplyResult {
  table: string;
  /** The ruleset that is now running (committed with swap.ts's preamble in front). */
  text: string;
  /** SHA-256 of the text, hex. */
  sha256: string;
  /** Where the text was kept, when keepDir was given. */
  keptAt?: string;
  /** Whether a table of that name was running before (its listing was saved for rollback). */
  replaced: boolean;
}

function tableOf(opts: { table?: string }): string {
  const table = opts.table ?? 'zonegate';
  const problem = tableProblem(table);
  if (problem) throw new TypeError(problem);
  return table;
}

function failIfUnavailable(stderr: string): void {
  if (looksUnavailable(stderr)) throw nftUnavailable(summarize(stderr, 2));
}

/** The running table as `nft list` prints it (re-loadable with `nft -f`), or undefined when absent. */
export async function listTable(opts: NftCommandOptions & { table?: string } = {}): Promise<string | undefined> {
  const table = tableOf(opts);
  const r = await runNft(['list', 'table', 'inet', table], undefined, opts);
  if (r.code === 0) return r.stdout;
  failIfUnavailable(r.stderr);
  if (/No such file or directory/.test(r.stderr)) return undefined;
  throw new ZonegateError('ERR_NFT', `nft list table inet ${table} failed: ${summarize(r.stderr)}`);
}

function keep(dir: string, sha256: string, text: string): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `nftables-${sha256}.nft`);
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', 0o640);
  try { writeSync(fd, text); fsyncSync(fd); } finally { closeSync(fd); }
  renameSync(tmp, file);
  const dfd = openSync(dir, 'r');
  try { fsyncSync(dfd); } finally { closeSync(dfd); }
  return file;
}

/**
 * Checks, then commits `text` in one nft transaction; on a failed commit restores the table that
 * was running. Resolves with the text and its hash. Rejects with ZonegateError ERR_NFT:
 * "nftables unavailable: ...; the proxies still enforce" (no nft, no privilege), "nft refused the
 * ruleset: ..." (nothing changed), or "nft could not apply the ruleset: ..." (rolled back).
 */
export async function applyRuleset(text: string, opts: ApplyOptions = {}): Promise<ApplyResult> {
  if (typeof text !== 'string' || text === '') throw new TypeError('applyRuleset needs the ruleset text');
  const table = tableOf(opts);
  const sha256 = createHash('sha256').update(text).digest('hex');

  const previous = await listTable({ ...opts, table });
  const script = swapScript(table, previous, text);
  const check = await runNft(['-c', '-f', '-'], script, opts);
  if (check.code !== 0) {
    failIfUnavailable(check.stderr);
    throw new ZonegateError('ERR_NFT', `nft refused the ruleset (nothing changed): ${summarize(check.stderr)}`);
  }

  const applied = await runNft(['-f', '-'], script, opts);
  if (applied.code !== 0) {
    const why = summarize(applied.stderr);
    let outcome = 'the previous ruleset was left as it was';
    try {
      const now = await listTable({ ...opts, table });
      if (now !== previous) {
        const back = await runNft(['-f', '-'], previous === undefined ? deleteScript(table) : swapScript(table, now, previous), opts);
        outcome = back.code === 0
          ? `the previous ruleset was restored${previous === undefined ? ' (no table)' : ''}`
          : `restoring the previous ruleset failed too: ${summarize(back.stderr, 3)}`;
      }
    } catch (e) {
      outcome = `the ruleset now running is unknown: ${(e as Error).message}`;
    }
    throw new ZonegateError('ERR_NFT', `nft could not apply the ruleset: ${why}; ${outcome}`);
  }
  const keptAt = opts.keepDir !== undefined ? keep(opts.keepDir, sha256, text) : undefined;
  return { table, text, sha256, keptAt, replaced: previous !== undefined };
}

/** Deletes the table (the data plane back to the kernel's defaults). Resolves false when there was none. */
export async function removeRuleset(opts: NftCommandOptions & { table?: string } = {}): Promise<boolean> {
  const table = tableOf(opts);
  const tables = await runNft(['list', 'tables', 'inet'], undefined, opts);
  if (tables.code !== 0) {
    failIfUnavailable(tables.stderr);
    throw new ZonegateError('ERR_NFT', `nft list tables failed: ${summarize(tables.stderr)}`);
  }
  if (!tables.stdout.split('\n').some((l) => l.trim() === `table inet ${table}`)) return false;
  const r = await runNft(['-f', '-'], deleteScript(table), opts);
  if (r.code !== 0) {
    failIfUnavailable(r.stderr);
    throw new ZonegateError('ERR_NFT', `nft could not remove table inet ${table}: ${summarize(r.stderr)}`);
  }
  return true;
}
