/**
 * Cuts the bytes of a serial line into RTU frames (rtu-frame.ts): a frame is handed out once its
 * length is reached and its CRC checks; a frame whose CRC fails, that grows past 256 bytes, or
 * that the line leaves incomplete for one inter-frame interval (a torn frame) is dropped and
 * reported. Memory is one 256-byte buffer; one timer, re-armed, measures the silence.
 */
import { crcValid } from './crc';
import { BY_SILENCE, NEED_MORE, RTU_MAX_ADU, type LengthResult } from './rtu-frame';

export interface RtuReceiverOptions {
  /** rtuRequestLength (a server side) or rtuResponseLength (a master side). */
  lengthOf(b: Uint8Array, o: number, n: number): LengthResult;
  /** The silent interval that ends a frame (interFrameMs). */
  gapMs: number;
  /** A frame with a good CRC: buf[0 .. length) (unit, PDU, CRC); copy what you keep. */
  onFrame(buf: Buffer, length: number): void;
  /** Bytes dropped and why (bad CRC, torn frame, too long). */
  onDiscard(reason: string, bytes: number): void;
}

export class RtuReceiver {
  private readonly buf = Buffer.alloc(RTU_MAX_ADU);
  private have = 0;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(private readonly o: RtuReceiverOptions) {}

  /** Bytes of an incomplete frame held now. */
  get pending(): number { return this.have; }

  push(chunk: Buffer): void {
    if (this.closed) return;
    let at = 0;
    while (at < chunk.length) {
      const room = RTU_MAX_ADU - this.have;
      const take = Math.min(room, chunk.length - at);
      chunk.copy(this.buf, this.have, at, at + take);
      this.have += take;
      at += take;
      this.drain();
      if (this.have === RTU_MAX_ADU) this.discard('frame longer than 256 bytes');
    }
    if (this.have > 0) this.arm();
  }

  private drain(): void {
    while (this.have > 0) {
      const len = this.o.lengthOf(this.buf, 0, this.have);
      if (len === NEED_MORE || len === BY_SILENCE || this.have < len) return;
      if (len > RTU_MAX_ADU || len < 4) { this.discard(`impossible frame length ${len}`); return; }
      if (crcValid(this.buf, 0, len)) this.o.onFrame(this.buf, len);
      else this.o.onDiscard('bad CRC', len);
      this.buf.copy(this.buf, 0, len, this.have);
      this.have -= len;
    }
  }

  private discard(reason: string): void {
    this.o.onDiscard(reason, this.have);
    this.have = 0;
  }

  private arm(): void {
    if (this.timer === null) {
      this.timer = setTimeout(() => this.silence(), this.o.gapMs);
      this.timer.unref();
    } else this.timer.refresh();
  }

  /** The line went silent: a frame ending on silence is complete; anything else held is torn. */
  private silence(): void {
    if (this.have === 0 || this.closed) return;
    const len = this.o.lengthOf(this.buf, 0, this.have);
    if (len === BY_SILENCE && this.have >= 4 && crcValid(this.buf, 0, this.have)) {
      const n = this.have;
      this.have = 0;
      this.o.onFrame(this.buf, n);
      return;
    }
    this.discard(len === BY_SILENCE ? 'bad CRC' : `torn frame (${this.have} bytes, then silence)`);
  }

  /** Forgets held bytes (e.g. before a new transaction). */
  reset(): void { this.have = 0; }

  close(): void {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}
