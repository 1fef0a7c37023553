/**
 * One direction of an IEC 104 connection as the gateway reads it: the APCI splitter, the window
 * state of the gateway's side (window.ts: sequence numbers, k/w, STARTDT, timers) and the ASDU
 * parser, composed. Each APDU reaches the handler already checked:
 *   u(fn)        a U-format function (the caller answers TESTFR act, STARTDT act, ...)
 *   s()          an S-format acknowledgement (the window has taken its N(R))
 *   asdu(a, f)   an I-format APDU in sequence whose ASDU parsed (a and f are reused)
 *   refused(a, f) an I-format APDU in sequence whose ASDU did not parse: a.fault says whether it
 *                is of an unknown type (answer cause 44) or malformed; a.message says why
 *   closed(msg)  framing or sequence broken (bad start, length, control field, N(S) gap, N(R)
 *                of frames never sent, I-frames while stopped, more than k I-frames
 *                unacknowledged in one read): the connection must close;
 *                nothing is read after it.
 * The frames the gateway sends on this connection go through `window` (sendI/sendS/sentU) so
 * that the N(R) it receives is checked against them.
 */
import { ApciFormat, ApciSplitter, APCI_BYTES, type ApciFrame } from './apci';
import { Asdu, parseAsdu } from './asdu';
import { ApciWindow, type WindowOptions } from './window';

export interface ApduReaderHandler {
  u(fn: number, frame: ApciFrame): void;
  s(frame: ApciFrame): void;
  asdu(a: Asdu, frame: ApciFrame): void;
  refused(a: Asdu, frame: ApciFrame): void;
  closed(message: string): void;
}

export interface ApduReaderOptions {
  window: WindowOptions;
  /** Largest APDU length accepted (4..253, default 253). */
  maxLength?: number;
  now: () => number;
  handler: ApduReaderHandler;
}

export class ApduReader {
  readonly window: ApciWindow;
  private readonly splitter: ApciSplitter;
  private readonly asduRecord = new Asdu();
  private done = false;

  constructor(private readonly options: ApduReaderOptions) {
    this.window = new ApciWindow(options.window, options.now());
    this.splitter = new ApciSplitter({
      onApdu: (f) => this.onApdu(f),
      onApciMalformed: (m) => this.close(m),
    }, { maxLength: options.maxLength });
  }

  /** Whether the connection was found broken (or closed). */
  get closed(): boolean { return this.done; }
  /** Bytes of an incomplete APDU held (for a frame-completion timeout). */
  get partialBytes(): number { return this.splitter.partialBytes; }

  /** Feeds received bytes: chunk[0 .. end). */
  push(chunk: Uint8Array, end = chunk.length): void {
    if (this.done) return;
    // One read: the peer sent all of it before it could see an acknowledgement sent while handling it (k check).
    this.window.readBegins();
    try { this.splitter.push(chunk, 0, end); } finally { this.window.readEnds(); }
  }

  private onApdu(f: ApciFrame): boolean {
    const problem = this.window.received(f, this.options.now());
    if (problem !== null) { this.close(problem); return false; }
    const h = this.options.handler;
    if (f.format === ApciFormat.U) h.u(f.uFunction, f);
    else if (f.format === ApciFormat.S) h.s(f);
    else if (parseAsdu(f.raw, this.asduRecord, APCI_BYTES, f.rawLength)) h.asdu(this.asduRecord, f);
    else h.refused(this.asduRecord, f);
    return !this.done;
  }

  private close(message: string): void {
    if (this.done) return;
    this.done = true;
    this.splitter.close();
    this.options.handler.closed(message);
  }

  /** Stops reading (the socket closed). */
  stop(): void {
    this.done = true;
    this.splitter.close();
  }
}
