/**
 * One client connection's own upstream socket (connection.ts): opened on demand, read into one
 * reused buffer (net `onread`: no allocation per read), split into MBAP frames that go back to
 * the connection. One UpstreamSide per socket, no per-frame closures.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { MbapSplitter, type MbapFrameHandler } from './mbap';

// 4 KiB holds 16 outstanding answers.
const UPSTREAM_READ_BYTES = 4096;

/** What the connection does with its upstream socket's events. */
export interface UpstreamOwner {
  /** A well-framed response; the return value tells the splitter to go on. */
  onResponse(up: UpstreamSide, buf: Buffer, off: number, len: number, scratch: boolean): boolean;
  onUpstreamMalformed(up: UpstreamSide, message: string): void;
  /** `n` bytes read into the reused buffer `chunk`. */
  onUpstreamData(up: UpstreamSide, chunk: Buffer, n: number): void;
  onUpstreamDrain(up: UpstreamSide): void;
  onUpstreamClose(up: UpstreamSide): void;
}

/** Reads one upstream socket's responses. */
export class UpstreamSide implements MbapFrameHandler {
  readonly splitter: MbapSplitter;
  connecting = true;
  errorCode: string | null = null;
  constructor(readonly owner: UpstreamOwner, readonly socket: Socket) {
    this.splitter = new MbapSplitter(this);
  }
  onFrame(buf: Buffer, offset: number, length: number, scratch: boolean): boolean {
    return this.owner.onResponse(this, buf, offset, length, scratch);
  }
  onMalformed(message: string): void {
    this.owner.onUpstreamMalformed(this, message);
  }
}

/** Connects to host:port and wires the socket's events to `owner`. */
export function openUpstreamSide(owner: UpstreamOwner, host: string, port: number): UpstreamSide {
  // Frames are copied out of the reused read buffer before they are written to the client.
  let up: UpstreamSide | null = null;
  const socket = netConnect({
    host, port,
    onread: { buffer: Buffer.allocUnsafeSlow(UPSTREAM_READ_BYTES), callback: (n: number, buf: Uint8Array) => { owner.onUpstreamData(up!, buf as Buffer, n); return true; } },
  });
  socket.setNoDelay(true);
  const side = new UpstreamSide(owner, socket);
  up = side;
  socket.on('connect', () => { side.connecting = false; });
  socket.on('drain', () => owner.onUpstreamDrain(side));
  socket.on('error', (err: NodeJS.ErrnoException) => { side.errorCode = err.code ?? err.message; });
  socket.on('close', () => owner.onUpstreamClose(side));
  return side;
}
