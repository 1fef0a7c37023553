/**
 * Checks a package file against the signed size and sha256 of its runtime bundle, reading it once
 * (streamed, so a 5 MiB package costs no 5 MiB buffer) and never past the signed size.
 */
import { createHash } from 'node:crypto';
import { createReadStream, promises as fsp } from 'node:fs';
import { ZonegateError } from '../../policy/errors';
import type { RuntimePayload } from '../../policy/bundle/types';

/** Resolves when the file has exactly payload.size bytes hashing to payload.sha256; else ERR_UPDATE_PACKAGE. */
export async function checkPackage(options: { file: string; payload: RuntimePayload }): Promise<void> {
  const { file, payload } = options;
  let size: number;
  try {
    size = (await fsp.stat(file)).size;
  } catch (e) {
    throw new ZonegateError('ERR_UPDATE_PACKAGE', `cannot read package ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
  if (size !== payload.size) {
    throw new ZonegateError('ERR_UPDATE_PACKAGE', `package ${file} has ${size} bytes, the signed update says ${payload.size}; refused`);
  }
  const hash = createHash('sha256');
  await new Promise<void>((resolve, reject) => {
    createReadStream(file, { start: 0, end: Math.max(0, payload.size - 1) })
      .on('data', (c) => hash.update(c))
      .on('error', reject)
      .on('end', resolve);
  });
  const got = hash.digest('hex');
  if (got !== payload.sha256.toLowerCase()) {
    throw new ZonegateError('ERR_UPDATE_PACKAGE', `package ${file} has sha256 ${got.slice(0, 16)}…, the signed update says ${payload.sha256.slice(0, 16)}…; refused`);
  }
}
