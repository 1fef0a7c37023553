/**
 * Splices two TCP sockets both ways with backpressure and half-close carried through.
 *
 * Both sockets must have been created with `allowHalfOpen: true`: when one side sends FIN
 * (RFC 9293 section 3.6, "CLOSE" from one end) we end our write half toward the other side and
 * keep reading what it still sends, so a server's reply after the client's end of stream arrives.
 *
 * Backpressure: a reader is paused once the other side's unsent bytes reach `maxBuffered`
 * (default 256 KiB) and resumed on its 'drain'. This is stream.pipe without its per-chunk
 * machinery, and with a deeper buffer than a socket's 16 KiB high-water mark, which would
 * otherwise pause and resume the reader on every 64 KiB read. Memory per connection and
 * direction stays bounded by maxBuffered plus one read. Any error on either socket destroys both.
 *
 * A socket we open ourselves (the upstream, net.connect) can read into a buffer we own
 * (ReusedReadBuffer, net `onread`): without it Node mallocs a fresh 64 KiB buffer for every read,
 * and the kernel's copy into those fresh pages page-faults (about a tenth of the proxy's CPU in
 * bulk transfers, measured with perf). Accepted sockets have no public `onread` in Node 18: the
 * client-to-upstream direction keeps the 'data' path.
 */
import type { Socket } from 'node:net';

export interface SpliceHandle {
  /** Destroys both sockets (idempotent); `done` then resolves. */
  destroy(): void;
  /** Resolves once both sockets are closed, with the first error seen, if any. */
  readonly done: Promise<{ error?: Error }>;
}

/** One direction: src's bytes into dst, src's FIN into dst.end(). */
function forward(src: Socket, dst: Socket, maxBuffered: number): void {
  let waiting = false;
  const onDrain = () => { waiting = false; src.resume(); };
  src.on('data', (chunk: Buffer) => {
    if (!dst.write(chunk) && dst.writableLength >= maxBuffered && !waiting) {
      waiting = true;
      src.pause();
      dst.once('drain', onDrain);
    }
  });
  src.once('end', () => { if (!dst.destroyed) dst.end(); });
}

/** Bytes one read of a ReusedReadBuffer takes at most (Node's own read size). */
const READ_BYTES = 64 * 1024;

/**
 * The `onread` option for net.connect (Node >= 12.2) of a socket whose bytes go to one other
 * socket: each read lands in one buffer that is reused as long as the write of the previous read
 * was taken whole by the kernel (Node writes synchronously when it can). A write that had to be
 * queued keeps its buffer: the next read gets a fresh one, so queued bytes are never overwritten.
 * The buffer is allocated on the first read (a connection that never reads holds none); at most
 * one 64 KiB buffer per connection besides what dst has queued (bounded by splice's maxBuffered).
 * Pass it to splice() as `bReader` with the socket whose onread it is as `b`.
 */
export class ReusedReadBuffer {
  /** For net.connect({ onread }). */
  readonly onread: { buffer: () => Uint8Array; callback: (n: number, buf: Uint8Array) => boolean };
  private buf: Buffer | null = null;
  private src: Socket | null = null;
  private maxBuffered = 256 * 1024;
  private waiting = false;
  private readonly onDrain = (): void => { this.waiting = false; this.src?.resume(); };

  /** `dst`: the socket every read is written to. */
  constructor(readonly dst: Socket) {
    this.onread = {
      buffer: () => this.buf ?? (this.buf = Buffer.allocUnsafeSlow(READ_BYTES)),
      callback: (n, buf) => this.read(n, buf as Buffer),
    };
  }

  /** Called by splice(): the socket that reads (resumed on dst's 'drain') and the backpressure mark. */
  attach(src: Socket, maxBuffered: number): void {
    this.src = src;
    this.maxBuffered = maxBuffered;
  }

  private read(n: number, buf: Buffer): boolean {
    const dst = this.dst;
    dst.write(n === buf.length ? buf : buf.subarray(0, n));
    // Anything still queued may point into `buf`: hand it over and read into a new one next time.
    if (dst.writableLength > 0 || dst.destroyed) this.buf = null;
    if (dst.writableLength >= this.maxBuffered && !this.waiting) {
      this.waiting = true;
      dst.once('drain', this.onDrain);
      return false; // pauses the socket (net onread); onDrain resumes it
    }
    return true;
  }
}

/**
 * Splices a and b both ways until both are closed. `bReader`: b was opened with bReader.onread
 * (its bytes go to a through that reader instead of 'data' events).
 */
export function splice(a: Socket, b: Socket, opts: { maxBuffered?: number; bReader?: ReusedReadBuffer } = {}): SpliceHandle {
  const maxBuffered = opts.maxBuffered ?? 256 * 1024;
  let firstError: Error | undefined;
  let closed = 0;
  let resolveDone!: (v: { error?: Error }) => void;
  const done = new Promise<{ error?: Error }>((r) => { resolveDone = r; });
  const destroy = () => { a.destroy(); b.destroy(); };
  const onError = (e: Error) => { if (!firstError) firstError = e; destroy(); };
  const onClose = (hadError: boolean) => {
    closed += 1;
    // A side closed by an error (reset) cannot be answered any more: drop the other too. A side
    // closed cleanly has already passed its FIN on, so the other finishes flushing by itself.
    if (hadError) destroy();
    if (closed === 2) resolveDone(firstError ? { error: firstError } : {});
  };
  a.on('error', onError); b.on('error', onError);
  a.on('close', onClose); b.on('close', onClose);
  forward(a, b, maxBuffered);
  if (opts.bReader !== undefined) {
    if (opts.bReader.dst !== a) throw new TypeError('splice: bReader must write to the first socket');
    opts.bReader.attach(b, maxBuffered);
    b.once('end', () => { if (!a.destroyed) a.end(); });
  } else {
    forward(b, a, maxBuffered);
  }
  return { destroy, done };
}
