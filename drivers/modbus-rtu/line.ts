/**
 * One RTU serial line as a master (Modbus over Serial Line V1.02, section 2.4.1): one
 * transaction at a time. Requests queue (bounded); the head is written as an RTU frame and its
 * response awaited for `responseMs`; a broadcast (unit 0) gets no response and the line waits
 * `turnaroundMs` before the next request. A response is accepted only when its CRC checks and it
 * names the request's unit and function (or its exception); anything else is dropped and counted.
 * A transaction that times out is answered alone (0x0B by the caller); the line goes on.
 * State machine kept whole on purpose: idle → waiting (response or turnaround) → idle.
 */
import { rtuFrame } from './crc';
import { RtuReceiver } from './receiver';
import { interFrameMs, bitsPerChar, rtuResponseLength } from './rtu-frame';
import type { SerialLine, SerialPort } from './serial';

/** Who gets the outcome of a transaction. */
export interface LineWaiter {
  /** The response PDU (function code first) at pdu[0 .. length). Copy what you keep. */
  answered(pdu: Buffer, offset: number, length: number, tag: number): void;
  /** No (valid) response within responseMs. */
  timedOut(tag: number): void;
}

interface Pending { waiter: LineWaiter; tag: number; unit: number; fn: number; frame: Buffer }

export interface RtuLineStats {
  transactions: number;
  responses: number;
  timeouts: number;
  badCrc: number;
  torn: number;
  unexpected: number;
  queueFull: number;
}

export class RtuLine {
  private readonly queue: Pending[] = [];
  private current: Pending | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly receiver: RtuReceiver;
  private closed = false;
  readonly gapMs: number;
  readonly stats: RtuLineStats = { transactions: 0, responses: 0, timeouts: 0, badCrc: 0, torn: 0, unexpected: 0, queueFull: 0 };

  constructor(
    private readonly port: SerialPort,
    line: SerialLine,
    private readonly o: { responseMs: number; turnaroundMs: number; maxQueue: number; onEvent(message: string): void },
  ) {
    this.gapMs = line.interFrameMs ?? interFrameMs(line.baud, bitsPerChar(line.parity, line.stopBits));
    this.receiver = new RtuReceiver({
      lengthOf: rtuResponseLength,
      gapMs: this.gapMs,
      onFrame: (buf, len) => this.onResponse(buf, len),
      onDiscard: (reason, bytes) => {
        if (reason === 'bad CRC') this.stats.badCrc++; else this.stats.torn++;
        this.o.onEvent(`serial: dropped ${bytes} byte(s): ${reason}`);
      },
    });
    port.on('data', (chunk) => this.receiver.push(chunk));
    port.on('error', (err) => this.o.onEvent(`serial: ${err.message}`));
  }

  /** Transactions waiting or on the line. */
  get depth(): number { return this.queue.length + (this.current === null ? 0 : 1); }

  /** Queues one request PDU for `unit`; false when the queue is full (answer 06). */
  enqueue(waiter: LineWaiter, tag: number, unit: number, pdu: Uint8Array, start: number, end: number): boolean {
    if (this.closed) return false;
    if (this.queue.length >= this.o.maxQueue) { this.stats.queueFull++; return false; }
    this.queue.push({ waiter, tag, unit, fn: pdu[start], frame: rtuFrame(unit, pdu, start, end) });
    if (this.current === null && this.timer === null) this.next();
    return true;
  }

  /** Drops the queued transactions of a waiter that went away (its current one finishes unseen). */
  forget(waiter: LineWaiter): void {
    for (let i = this.queue.length - 1; i >= 0; i--) if (this.queue[i].waiter === waiter) this.queue.splice(i, 1);
  }

  private next(): void {
    this.timer = null;
    const p = this.queue.shift();
    if (p === undefined || this.closed) return;
    this.stats.transactions++;
    this.receiver.reset();
    this.port.write(p.frame);
    if (p.unit === 0) { // broadcast: nobody answers (section 2.1)
      this.timer = setTimeout(() => this.next(), this.o.turnaroundMs);
      return;
    }
    this.current = p;
    this.timer = setTimeout(() => this.timeout(), this.o.responseMs);
  }

  private onResponse(buf: Buffer, len: number): void {
    const p = this.current;
    if (p === null || buf[0] !== p.unit || (buf[1] & 0x7f) !== p.fn) {
      this.stats.unexpected++;
      this.o.onEvent(`serial: response (unit ${buf[0]}, function ${buf[1]}) answers no outstanding request: dropped`);
      return;
    }
    if (this.timer !== null) clearTimeout(this.timer);
    this.current = null;
    this.stats.responses++;
    p.waiter.answered(buf, 1, len - 3, p.tag);
    // Let the line be silent for one interval before the next request (section 2.5.1.1).
    this.timer = setTimeout(() => this.next(), this.gapMs);
  }

  private timeout(): void {
    const p = this.current;
    this.current = null;
    this.timer = null;
    if (p === null) return;
    this.stats.timeouts++;
    this.o.onEvent(`serial: unit ${p.unit} did not answer function ${p.fn} within ${this.o.responseMs} ms`);
    p.waiter.timedOut(p.tag);
    this.timer = setTimeout(() => this.next(), this.gapMs);
  }

  close(): void {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.receiver.close();
    const waiting = [...(this.current ? [this.current] : []), ...this.queue];
    this.current = null;
    this.queue.length = 0;
    for (const p of waiting) p.waiter.timedOut(p.tag);
    this.port.close();
  }
}
