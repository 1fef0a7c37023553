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

export function splice(a: Socket, b: Socket, opts: { maxBuffered?: number } = {}): SpliceHandle {
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
  forward(b, a, maxBuffered);
  return { destroy, done };
}
