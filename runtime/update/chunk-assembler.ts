/**
 * Assembles a package from chunks into a staging file in the state folder (never where it would
 * run). It only takes chunks of the package a VERIFIED bundle announced (expect()), writes each
 * at its offset inside the signed size, counts what it drops, and says when every chunk is there;
 * the caller then checks the whole file against the signed hash (check-package.ts).
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { PackageChunk } from '../../protocol/update/topics';

export interface AssemblerStats {
  received: number;
  /** Chunks for another package, out of range, or duplicates. */
  dropped: number;
}

export interface ChunkAssembler {
  /** Starts waiting for this package (truncating any earlier staging file). */
  expect(target: { sha256: string; size: number }): Promise<void>;
  /** Stores a chunk; resolves true once every chunk of the expected package is in. */
  add(chunk: PackageChunk): Promise<boolean>;
  /** The staging file's path. */
  readonly file: string;
  /** The expected package, if any. */
  expected(): { sha256: string; size: number } | null;
  stats(): AssemblerStats;
  /** Forgets the expected package and removes the staging file. */
  reset(): Promise<void>;
}

/** Builds an assembler writing `<stateDir>/runtime.staging`. */
export function createChunkAssembler(options: { stateDir: string }): ChunkAssembler {
  const file = join(options.stateDir, 'runtime.staging');
  let target: { sha256: string; size: number } | null = null;
  let have = new Set<number>();
  let total = 0;
  const st: AssemblerStats = { received: 0, dropped: 0 };
  return {
    file,
    expected: () => target,
    stats: () => ({ ...st }),
    async expect(t) {
      target = { sha256: t.sha256, size: t.size };
      have = new Set();
      total = 0;
      await fsp.writeFile(file, new Uint8Array(0), { mode: 0o600 });
    },
    async add(chunk) {
      st.received += 1;
      if (!target || chunk.sha256 !== target.sha256 || have.has(chunk.index)
        || chunk.offset + chunk.bytes.length > target.size || (total !== 0 && chunk.total !== total)) {
        st.dropped += 1;
        return false;
      }
      total = chunk.total;
      const fh = await fsp.open(file, 'r+');
      try {
        let off = 0;
        while (off < chunk.bytes.length) off += (await fh.write(chunk.bytes, off, chunk.bytes.length - off, chunk.offset + off)).bytesWritten;
        await fh.sync();
      } finally {
        await fh.close();
      }
      have.add(chunk.index);
      return have.size === total;
    },
    async reset() {
      target = null;
      have = new Set();
      total = 0;
      await fsp.rm(file, { force: true });
    },
  };
}
