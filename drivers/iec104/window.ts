/**
 * One side of an IEC 60870-5-104 connection's APCI state (IEC 60870-5-104:2006 sections 5.1..5.6):
 * the send and receive state variables V(S) and V(R), the acknowledged send count, the k window
 * (unacknowledged I-frames sent, default 12) and the w window (I-frames received before an ack
 * is due, default 8), data transfer started/stopped (STARTDT/STOPDT), and the deadlines of
 * t1 (15 s: an I-frame or TESTFR act unacknowledged), t2 (10 s: acknowledge received I-frames
 * when there is no data to send) and t3 (20 s: idle, send TESTFR act). A pure state machine:
 * the caller passes the time in and acts on what it returns (no timers here), so a proxy can keep
 * one per side and tests can drive it without clocks.
 *
 * Checks on received frames (5.1): an I-frame's N(S) must equal V(R); every N(R) (I and S) must
 * lie between the last acknowledged and V(S); I-frames only while data transfer is started; and
 * (5.5, k) the peer never has more than k I-frames unacknowledged: an I-frame that arrives when k
 * of the peer's frames are already past the last acknowledgement it can have seen overruns its
 * window. What it can have seen, exactly, whatever the read boundaries: at most the
 * acknowledgements sent before the bytes in hand were read (readBegins/readEnds bracket one read;
 * without brackets, every acknowledgement sent), and, when the frame's N(R) leaves one of our
 * I-frames unacknowledged, none sent after that I-frame: the peer's N(R) is its V(R) when it sent
 * (5.1), so it had not yet processed that frame, nor anything we sent after it on the stream.
 * Hence we keep, per I-frame we send, the last N(R) we had sent before it (ackBefore).
 * A violation returns a message and changes nothing: the standard's answer is to close the
 * connection.
 */
import { ApciFormat, SEQ_MODULO, UFunction, type ApciFrame } from './apci';

export interface WindowOptions {
  /** 'controlling' (the master, sends STARTDT act) or 'controlled' (the station). */
  role: 'controlling' | 'controlled';
  k?: number;
  w?: number;
  t1Ms?: number;
  t2Ms?: number;
  t3Ms?: number;
}

/** k, w and the timers of one link (IEC 60870-5-104:2006 5.5, 9.6). */
export interface Iec104Link { k: number; w: number; t1Ms: number; t2Ms: number; t3Ms: number }

/** The standard's defaults: k 12, w 8, t1 15 s, t2 10 s, t3 20 s. */
export const IEC104_LINK_DEFAULTS: Readonly<Iec104Link> = Object.freeze({ k: 12, w: 8, t1Ms: 15_000, t2Ms: 10_000, t3Ms: 20_000 });

/** What the clock says is due (see due()). */
export type WindowDue = 'none' | 't1-expired' | 'send-ack' | 'send-testfr';

const diff = (a: number, b: number): number => (a - b) & (SEQ_MODULO - 1);

export class ApciWindow {
  readonly k: number;
  readonly w: number;
  private readonly t1: number;
  private readonly t2: number;
  private readonly t3: number;
  /** V(S), V(R), and the oldest of our I-frames not yet acknowledged (the last N(R) received). */
  vs = 0;
  vr = 0;
  acked = 0;
  /** V(R) as we last told the peer (in an I- or S-frame). */
  ackSent = 0;
  /** The last V(R) the peer can have seen when it sent what is being read (see readBegins). */
  private ackVisible = 0;
  private reading = false;
  started = false;
  /** Send times of the outstanding I-frames, by a running count of frames sent (mod k). */
  private readonly sentAt: Float64Array;
  /** The last N(R) we had sent before each outstanding I-frame (same index as sentAt). */
  private readonly ackBefore: Uint16Array;
  private sentCount = 0;
  private t2Deadline = Infinity;
  private t3Deadline: number;
  private testSentAt = NaN;

  constructor(private readonly options: WindowOptions, now: number) {
    const d = IEC104_LINK_DEFAULTS;
    this.k = options.k ?? d.k;
    this.w = options.w ?? d.w;
    this.t1 = options.t1Ms ?? d.t1Ms;
    this.t2 = options.t2Ms ?? d.t2Ms;
    this.t3 = options.t3Ms ?? d.t3Ms;
    if (!Number.isInteger(this.k) || this.k < 1 || this.k > 32767) throw new TypeError(`ApciWindow: k ${this.k} is not in 1..32767`);
    if (!Number.isInteger(this.w) || this.w < 1 || this.w > this.k) throw new TypeError(`ApciWindow: w ${this.w} is not in 1..k (${this.k})`);
    if (!(this.t2 < this.t1)) throw new TypeError(`ApciWindow: t2 ${this.t2} ms must be below t1 ${this.t1} ms`);
    this.sentAt = new Float64Array(this.k);
    this.ackBefore = new Uint16Array(this.k);
    this.t3Deadline = now + this.t3;
  }

  /** I-frames sent and not yet acknowledged. */
  get unacknowledged(): number { return diff(this.vs, this.acked); }
  /** I-frames received and not yet acknowledged to the peer. */
  get unacknowledgedReceived(): number { return diff(this.vr, this.ackSent); }
  /** Whether another I-frame may be sent now (data transfer started, fewer than k outstanding). */
  get canSend(): boolean { return this.started && this.unacknowledged < this.k; }
  /** Whether w I-frames have been received without an ack: send an S-frame (or an I-frame) now. */
  get ackDue(): boolean { return this.unacknowledgedReceived >= this.w; }

  /** A frame from the peer: null when it is in order, else why the connection must close. */
  received(f: ApciFrame, now: number): string | null {
    this.t3Deadline = now + this.t3;
    if (f.format === ApciFormat.U) return this.receivedU(f.uFunction);
    if (f.format === ApciFormat.I) {
      if (!this.started) return `I-format APDU N(S)=${f.sendSeq} while data transfer is stopped`;
      if (f.sendSeq !== this.vr) return `I-format APDU N(S)=${f.sendSeq}, expected ${this.vr} (sequence gap or repeat)`;
      const seen = this.ackSeen(f.recvSeq);
      if (diff(this.vr, seen) >= this.k) {
        return `I-format APDU N(S)=${f.sendSeq} overruns the k window: ${this.k} I-frames already unacknowledged (last acknowledgement N(R)=${seen})`;
      }
    }
    const problem = this.acknowledge(f.recvSeq, f.format === ApciFormat.I ? 'I' : 'S');
    if (problem !== null || f.format !== ApciFormat.I) return problem;
    if (this.unacknowledgedReceived === 0) this.t2Deadline = now + this.t2;
    this.vr = (this.vr + 1) & (SEQ_MODULO - 1);
    return null;
  }

  /** The last of our acknowledgements the peer can have seen when it sent a frame with N(R) `nr` (see the top). */
  private ackSeen(nr: number): number {
    const visible = this.ackVisible;
    const pending = diff(this.vs, nr);
    // nr names an I-frame of ours still outstanding (not V(S), and not one of the past: acknowledge() checks that).
    if (pending === 0 || pending > this.unacknowledged) return visible;
    const before = this.ackBefore[(this.sentCount - pending) % this.k];
    return diff(this.vr, before) > diff(this.vr, visible) ? before : visible;
  }

  private acknowledge(nr: number, what: string): string | null {
    if (diff(nr, this.acked) > this.unacknowledged) {
      return `${what}-format APDU N(R)=${nr} acknowledges frames not sent (acknowledged ${this.acked}, V(S)=${this.vs})`;
    }
    this.acked = nr;
    return null;
  }

  private receivedU(fn: number): string | null {
    const controlled = this.options.role === 'controlled';
    switch (fn) {
      case UFunction.STARTDT_ACT: if (!controlled) return 'STARTDT act from the controlled station'; this.started = true; return null;
      case UFunction.STARTDT_CON: if (controlled) return 'STARTDT con from the controlling station'; this.started = true; this.testSentAt = NaN; return null;
      case UFunction.STOPDT_ACT: if (!controlled) return 'STOPDT act from the controlled station'; this.started = false; return null;
      case UFunction.STOPDT_CON: if (controlled) return 'STOPDT con from the controlling station'; this.started = false; this.testSentAt = NaN; return null;
      case UFunction.TESTFR_CON: this.testSentAt = NaN; return null;
      default: return null; // TESTFR act: the caller answers TESTFR con.
    }
  }

  /** We send an I-frame: its N(S) and N(R) (the caller checked canSend). */
  sendI(now: number): { sendSeq: number; recvSeq: number } {
    const recvSeq = this.vr;
    return { sendSeq: this.sendIFrame(now), recvSeq };
  }

  /** sendI without the object (the proxy's hot path): returns N(S); its N(R) is `vr`. */
  sendIFrame(now: number): number {
    if (!this.canSend) throw new TypeError(`ApciWindow.sendI: ${this.started ? `k window of ${this.k} is full` : 'data transfer is stopped'}`);
    const ns = this.vs;
    const slot = this.sentCount % this.k;
    this.sentAt[slot] = now;
    this.ackBefore[slot] = this.ackSent;
    this.sentCount++;
    this.vs = (ns + 1) & (SEQ_MODULO - 1);
    this.sentAck();
    return ns;
  }

  /** We send an S-frame: its N(R). */
  sendS(): number {
    this.sentAck();
    return this.vr;
  }

  /** We send a U-format APDU: an act (STARTDT, STOPDT, TESTFR) waits for its con within t1. */
  sentU(fn: number, now: number): void {
    if (fn === UFunction.STARTDT_ACT || fn === UFunction.STOPDT_ACT || fn === UFunction.TESTFR_ACT) this.testSentAt = now;
  }

  private sentAck(): void {
    this.ackSent = this.vr;
    if (!this.reading) this.ackVisible = this.vr;
    this.t2Deadline = Infinity;
  }

  /**
   * Bytes read from the peer are about to be handled: they were sent before the peer could see
   * any acknowledgement we send while handling them, so the k check counts from the last one
   * sent before now until readEnds().
   */
  readBegins(): void {
    this.reading = true;
    this.ackVisible = this.ackSent;
  }

  /** The read is handled: acknowledgements sent during it are visible to what the peer sends next. */
  readEnds(): void {
    this.reading = false;
    this.ackVisible = this.ackSent;
  }

  /** What is due at `now`, most urgent first: t1 expired (close), an ack (t2 or w), an idle test (t3). */
  due(now: number): WindowDue {
    const outstanding = this.unacknowledged;
    if (outstanding > 0 && now - this.sentAt[(this.sentCount - outstanding) % this.k] >= this.t1) return 't1-expired';
    if (now - this.testSentAt >= this.t1) return 't1-expired';
    if (this.unacknowledgedReceived > 0 && (this.ackDue || now >= this.t2Deadline)) return 'send-ack';
    if (now >= this.t3Deadline && Number.isNaN(this.testSentAt)) return 'send-testfr';
    return 'none';
  }
}
