/**
 * The fleet's copy of one device's audit log: `<out>/<device>/`, laid out exactly like the
 * device's own audit folder (protocol/audit/FORMAT.md: `audit-<first seq>.seg` segments of frames,
 * `checkpoint.latest`), so `zonegate audit verify <out>/<device>` checks it. Records are appended
 * only after the collector verified them, in seq order, each seq once; every append is written
 * and fsynced before it is acknowledged to the device. Also keeps the pinned device key
 * (`pinned-key.pub`, SPKI PEM) and refused batches (`refused/`, evidence).
 */
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { encodeFrame } from '../protocol/audit/frame';
import { scanSegment } from '../protocol/audit/scan';
import { segmentName, sortSegments } from '../protocol/audit/segment';
import { publicKeyFromRaw } from '../protocol/audit/checkpoint';
import { parseDevicePublicKey } from '../protocol/device-public-key';
import { fsyncDir, writeFileAtomic } from '../protocol/write-atomic';

export const PINNED_KEY_FILE = 'pinned-key.pub';
export const REFUSED_DIR = 'refused';

export interface DeviceStoreState {
  /** Seq of the first and last stored record; -1 when none. */
  firstSeq: number;
  lastSeq: number;
  /** SHA-256 of the last stored payload; null when none. */
  lastHash: Buffer | null;
  /** Pinned raw ed25519 key, or null until pinned. */
  key: Buffer | null;
  /** Bytes cut from a torn tail when opened (a collector crash mid-write). */
  recoveredBytes: number;
}

export class DeviceAuditStore {
  readonly dir: string;
  readonly state: DeviceStoreState = { firstSeq: -1, lastSeq: -1, lastHash: null, key: null, recoveredBytes: 0 };
  private fh: fsp.FileHandle | null = null;
  private size = 0;
  private readonly segmentBytes: number;

  private constructor(dir: string, segmentBytes: number) {
    this.dir = dir;
    this.segmentBytes = segmentBytes;
  }

  /** Opens (creating) the folder and finds where the stored chain ends; cuts a torn tail. */
  static async open(o: { dir: string; segmentBytes?: number }): Promise<DeviceAuditStore> {
    const s = new DeviceAuditStore(o.dir, o.segmentBytes ?? 4 * 1024 * 1024);
    await fsp.mkdir(o.dir, { recursive: true, mode: 0o700 });
    const names = await fsp.readdir(o.dir);
    if (names.includes(PINNED_KEY_FILE)) {
      s.state.key = parseDevicePublicKey(await fsp.readFile(join(o.dir, PINNED_KEY_FILE), 'utf8'), join(o.dir, PINNED_KEY_FILE));
    }
    const segs = sortSegments(o.dir, names);
    if (segs.length > 0) {
      const first = scanSegment(await fsp.readFile(segs[0].path), segs[0].firstSeq);
      if (first.records.length > 0) s.state.firstSeq = first.records[0].seq;
      const last = segs[segs.length - 1];
      const bytes = await fsp.readFile(last.path);
      const scan = scanSegment(bytes, last.firstSeq);
      s.fh = await fsp.open(last.path, 'r+');
      if (scan.goodEnd < bytes.length) {
        await s.fh.truncate(scan.goodEnd);
        await s.fh.sync();
        s.state.recoveredBytes = bytes.length - scan.goodEnd;
      }
      s.size = scan.goodEnd;
      const tail = scan.records[scan.records.length - 1];
      if (tail) { s.state.lastSeq = tail.seq; s.state.lastHash = tail.hash; }
      else if (segs.length > 1) throw new Error(`${last.path}: last segment holds no intact record`);
    }
    return s;
  }

  /** Pins the device key (raw 32 bytes), writing it as SPKI PEM. */
  async pinKey(raw: Uint8Array): Promise<void> {
    const pem = publicKeyFromRaw(raw).export({ format: 'pem', type: 'spki' }) as string;
    await writeFileAtomic(this.dir, PINNED_KEY_FILE, Buffer.from(pem));
    this.state.key = Buffer.from(raw);
  }

  /**
   * Appends verified payloads with seqs firstSeq.. (the caller checked continuity), in one write
   * and one fsync; starts a new segment at a batch boundary once the current one is full.
   */
  async append(o: { firstSeq: number; payloads: Buffer[]; lastHash: Buffer; checkpoint?: Buffer }): Promise<void> {
    const data = Buffer.concat(o.payloads.map((p) => encodeFrame(p)));
    if (this.fh === null || (this.size > 0 && this.size + data.length > this.segmentBytes)) {
      if (this.fh !== null) await this.fh.close();
      this.fh = await fsp.open(join(this.dir, segmentName(o.firstSeq)), 'wx', 0o600);
      this.size = 0;
      await fsyncDir(this.dir);
    }
    await this.fh.write(data, 0, data.length, this.size);
    await this.fh.sync();
    this.size += data.length;
    if (this.state.firstSeq < 0) this.state.firstSeq = o.firstSeq;
    this.state.lastSeq = o.firstSeq + o.payloads.length - 1;
    this.state.lastHash = o.lastHash;
    if (o.checkpoint) await writeFileAtomic(this.dir, 'checkpoint.latest', o.checkpoint);
  }

  /** Keeps a refused batch as evidence: the exact bytes and a JSON note of why. Returns the path. */
  async keepRefused(o: { bytes: Uint8Array; fromSeq: number | null; at: number; reason: unknown }): Promise<string> {
    const dir = join(this.dir, REFUSED_DIR);
    await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
    const base = `${new Date(o.at).toISOString().replace(/[:.]/g, '-')}-seq-${o.fromSeq ?? 'unknown'}-${Math.floor(Math.random() * 1e6)}`;
    await fsp.writeFile(join(dir, `${base}.batch`), o.bytes, { mode: 0o600 });
    await fsp.writeFile(join(dir, `${base}.json`), `${JSON.stringify(o.reason, null, 2)}\n`, { mode: 0o600 });
    return join(dir, `${base}.batch`);
  }

  async close(): Promise<void> {
    if (this.fh !== null) { await this.fh.close(); this.fh = null; }
  }
}

/** Reads `<keyDir>/<device>.pub` (SPKI PEM or 64 hex digits); null when absent. */
export async function readKeyDirKey(keyDir: string, device: string): Promise<Buffer | null> {
  const path = join(keyDir, `${device}.pub`);
  let text: string;
  try { text = await fsp.readFile(path, 'utf8'); } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  return parseDevicePublicKey(text, path);
}
