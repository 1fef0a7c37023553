/**
 * One side of a proxied IEC 104 connection (IEC 60870-5-104:2006 section 5): the socket, the
 * reader of what that peer sends (reader.ts: framing, N(S)/N(R) checks, ASDU parse) and the
 * sender of what the proxy sends it, through the same APCI window, so that each peer sees a
 * complete, in-sequence 104 link: the proxy's own N(S)/N(R), S-frame acknowledgements (w
 * frames, or t2), TESTFR act after t3 idle, and t1 on everything it sends. ASDUs waiting while
 * the peer's k window is full are held here (bounded) and sent as its acknowledgements arrive.
 */
import type { Socket } from 'node:net';
import { encodeIFrame, encodeSFrame, encodeUFrame, UFunction, type UFunctionCode } from './apci';
import { ApduReader, type ApduReaderHandler } from './reader';
import type { WindowOptions } from './window';

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

  constructor(readonly socket: Socket, private readonly options: SideOptions) {
    this.reader = new ApduReader({ window: { ...options.window, role: options.role }, now: options.now, handler: options.handler });
  }

  get window() { return this.reader.window; }
  /** ASDUs waiting for the peer's k window. */
  get queued(): number { return this.queue.length; }

  /** Sends an ASDU in an I-frame now, or holds a copy until the window opens; false on overflow. */
  sendAsdu(asdu: Uint8Array): boolean {
    if (this.queue.length === 0 && this.window.canSend) {
      this.socket.write(encodeIFrame({ ...this.window.sendI(this.options.now()), asdu }));
      return true;
    }
    if (this.queue.length >= this.options.maxQueued) { this.overflowed = true; return false; }
    this.queue.push(Buffer.from(asdu));
    return true;
  }

  /** Sends what waits, as far as the window allows (after the peer acknowledged, or started). */
  flush(): void {
    while (this.queue.length > 0 && this.window.canSend) {
      this.socket.write(encodeIFrame({ ...this.window.sendI(this.options.now()), asdu: this.queue.shift() as Buffer }));
    }
  }

  /** Acknowledges received I-frames at once when w of them wait (5.5: w). */
  ackIfDue(): void {
    if (this.window.ackDue) this.socket.write(encodeSFrame({ recvSeq: this.window.sendS() }));
  }

  sendU(fn: UFunctionCode): void {
    this.socket.write(encodeUFrame(fn));
    this.window.sentU(fn, this.options.now());
  }

  /** Acts on the window's timers: null, or why the connection must close (t1). */
  tick(now: number): string | null {
    switch (this.window.due(now)) {
      case 't1-expired': return 't1 expired: the peer did not acknowledge';
      case 'send-ack': this.socket.write(encodeSFrame({ recvSeq: this.window.sendS() })); return null;
      case 'send-testfr': this.sendU(UFunction.TESTFR_ACT); return null;
      default: return null;
    }
  }

  close(): void {
    this.reader.stop();
    this.queue.length = 0;
    this.socket.destroy();
  }
}
