/**
 * The file operations the audit log uses, behind an interface so tests can count fsyncs and
 * inject failures (ENOSPC, EIO) without stubbing modules. nodeAuditFs() is the real one; every
 * call goes through libuv's thread pool, so the event loop (and enforcement) never waits on disk.
 */
import * as fs from 'node:fs';
import { promisify } from 'node:util';

export interface AuditFs {
  mkdirp(path: string): Promise<void>;
  readdir(path: string): Promise<string[]>;
  readFile(path: string): Promise<Buffer>;
  /** 'r' read-only, 'r+' read-write existing, 'wx' create new (fails if it exists). */
  open(path: string, flags: 'r' | 'r+' | 'wx'): Promise<number>;
  /** Writes all of `data` at `position`; rejects on any error (the bytes may be partly written). */
  write(fd: number, data: Buffer, position: number): Promise<void>;
  /** Reads up to `length` bytes at `position`; resolves to the bytes read. */
  read(fd: number, length: number, position: number): Promise<Buffer>;
  fsync(fd: number): Promise<void>;
  ftruncate(fd: number, length: number): Promise<void>;
  fstatSize(fd: number): Promise<number>;
  close(fd: number): Promise<void>;
  statSize(path: string): Promise<number>;
  unlink(path: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  /** fsync of a folder, so that created, renamed and removed names survive power loss. */
  fsyncDir(path: string): Promise<void>;
}

const pWrite = (fd: number, b: Buffer, off: number, len: number, pos: number): Promise<number> =>
  new Promise((resolve, reject) => fs.write(fd, b, off, len, pos, (e, n) => (e ? reject(e) : resolve(n))));
const pRead = (fd: number, b: Buffer, off: number, len: number, pos: number): Promise<number> =>
  new Promise((resolve, reject) => fs.read(fd, b, off, len, pos, (e, n) => (e ? reject(e) : resolve(n))));
const pOpen = promisify(fs.open);
const pClose = promisify(fs.close);
const pFsync = promisify(fs.fsync);
const pFtruncate = promisify(fs.ftruncate);
const pFstat = promisify(fs.fstat);

/** The real file system. */
export function nodeAuditFs(): AuditFs {
  return {
    async mkdirp(path) { await fs.promises.mkdir(path, { recursive: true, mode: 0o700 }); },
    readdir: (path) => fs.promises.readdir(path),
    readFile: (path) => fs.promises.readFile(path),
    open: (path, flags) => pOpen(path, flags, 0o600),
    async write(fd, data, position) {
      let off = 0;
      while (off < data.length) {
        const n = await pWrite(fd, data, off, data.length - off, position + off);
        if (n <= 0) throw Object.assign(new Error('write wrote nothing'), { code: 'EIO' });
        off += n;
      }
    },
    async read(fd, length, position) {
      const buf = Buffer.allocUnsafe(length);
      let off = 0;
      while (off < length) {
        const n = await pRead(fd, buf, off, length - off, position + off);
        if (n === 0) break;
        off += n;
      }
      return buf.subarray(0, off);
    },
    fsync: (fd) => pFsync(fd),
    ftruncate: (fd, length) => pFtruncate(fd, length),
    async fstatSize(fd) { return (await pFstat(fd)).size; },
    close: (fd) => pClose(fd),
    async statSize(path) { return (await fs.promises.stat(path)).size; },
    unlink: (path) => fs.promises.unlink(path),
    rename: (from, to) => fs.promises.rename(from, to),
    async fsyncDir(path) {
      const fd = await pOpen(path, 'r');
      try { await pFsync(fd); } finally { await pClose(fd); }
    },
  };
}
