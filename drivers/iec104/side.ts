/**
 * One side of a proxied IEC 104 connection (IEC 60870-5-104:2006 section 5): the socket, the
 * reader of what that peer sends (reader.ts: framing, N(S)/N(R) checks, ASDU parse) and the
 * sender of what the proxy sends it, through the same APCI window, so that each peer sees a
 * complete, in-sequence 104 link: the proxy's own N(S)/N(R), S-frame acknowledgements (w
 * frames, or t2), TESTFR act after t3 idle, and t1 on everything it sends. ASDUs waiting while
 * the peer's k window is full are held here (bounded) and sent as its acknowledgements arrive.
 *
 * Output: APDUs are encoded straight into a slab (a 2 KiB buffer written front to back, never
 * rewritten: what was handed to the socket stays as it was; a full slab is replaced). Between
 * hold() and release() (one read handled) they gather and leave in one socket write; otherwise
 * each leaves at once.
 */
import type { Socket } from 'node:net';
import { APCI_BYTES, putIHeader, putSFrame, putUFrame, UFunction, type UFunctionCode } from './apci';
import { ApduReader, type ApduReaderHandler } from './reader';
import type { WindowOptions } from './window';

/** Bytes per output slab: several APDUs of up to 255 bytes (APDU_MAX_BYTES). */
const SLAB_BYTES = 2048;

export interface SideOptions {
  role: WindowOptions['role'];
  window: Omit<WindowOptions, 'role'>;
  maxQueued: number;
  now: () => number;
  handler: ApduReaderHandler;
}

export class Side {
  readonly reader: ApduReader;
  private readonly queue: Buffer[] = [];
  /** Set when the queue passed maxQueued (the connection must close). */
  overflowed = false;
  private slab: Buffer | null = null;
  /** slab[written .. end): encoded, not yet handed to the socket. */
  private written = 0;
  private end = 0;
  private holding = false;
  private closed = false;

  constructor(readonly socket: Socket, private readonly options: SideOptions) {
    this.reader = new ApduReader({ window: { ...options.window, role: options.role }, now: options.now, handler: options.handler });
  }

  get window() { return this.reader.window; }
  /** ASDUs waiting for the peer's k window. */
  get queued(): number { return this.queue.length; }
  /** Bytes the socket holds plus those gathered for it (between hold and release). */
  get writableLength(): number { return this.socket.writableLength + this.end - this.written; }

  /** Gathers what is sent from now on into one write (release() sends it). */
  hold(): void {
    this.holding = true;
  }

  /** Writes what was gathered since hold(), in one socket write. */
  release(): void {
    this.holding = false;
    this.writeOut();
  }

  /** Sends an ASDU in an I-frame now, or holds a copy until the window opens; false on overflow. */
  sendAsdu(asdu: Uint8Array): boolean {
    if (this.queue.length === 0 && this.window.canSend) {
      this.sendI(asdu);
      return true;
    }
    if (this.queue.length >= this.options.maxQueued) { this.overflowed = true; return false; }
    this.queue.push(Buffer.from(asdu));
    return true;
  }

  /** Sends what waits, as far as the window allows (after the peer acknowledged, or started). */
  flush(): void {
    while (this.queue.length > 0 && this.window.canSend) this.sendI(this.queue.shift() as Buffer);
  }

  /** Acknowledges received I-frames at once when w of them wait (5.5: w). */
  ackIfDue(): void {
    if (this.window.ackDue) this.sendS();
  }

  sendU(fn: UFunctionCode): void {
    putUFrame(this.room(APCI_BYTES), this.end, fn);
    this.sent(APCI_BYTES);
    this.window.sentU(fn, this.options.now());
  }

  /** Acts on the window's timers: null, or why the connection must close (t1). */
  tick(now: number): string | null {
    switch (this.window.due(now)) {
      case 't1-expired': return 't1 expired: the peer did not acknowledge';
      case 'send-ack': this.sendS(); return null;
      case 'send-testfr': this.sendU(UFunction.TESTFR_ACT); return null;
      default: return null;
    }
  }

  close(): void {
    this.closed = true;
    this.written = this.end;
    this.reader.stop();
    this.queue.length = 0;
    this.socket.destroy();
  }

  private sendI(asdu: Uint8Array): void {
    const n = asdu.length;
    const slab = this.room(APCI_BYTES + n);
    const w = this.window;
    const at = this.end;
    const recvSeq = w.vr;
    putIHeader(slab, at, w.sendIFrame(this.options.now()), recvSeq, n);
    slab.set(asdu, at + APCI_BYTES);
    this.sent(APCI_BYTES + n);
  }

  private sendS(): void {
    putSFrame(this.room(APCI_BYTES), this.end, this.window.sendS());
    this.sent(APCI_BYTES);
  }

  /** The slab with `n` free bytes at `end` (a full one is written out and replaced). */
  private room(n: number): Buffer {
    const slab = this.slab;
    if (slab !== null && this.end + n <= slab.length) return slab;
    this.writeOut();
    this.slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
    this.written = this.end = 0;
    return this.slab;
  }

  private sent(n: number): void {
    this.end += n;
    if (!this.holding) this.writeOut();
  }

  private writeOut(): void {
    if (this.end === this.written || this.closed) return;
    this.socket.write((this.slab as Buffer).subarray(this.written, this.end));
    this.written = this.end;
  }
}
