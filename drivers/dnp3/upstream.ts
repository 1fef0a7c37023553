/**
 * The outstation's side of one proxied DNP3 connection: its own socket, read through one reused
 * buffer (net onread: no buffer allocated and no stream event per read, as the Modbus driver
 * reads its upstream), split into link frames and reassembled. What it reads and how the socket
 * ends go to its owner (connection.ts).
 */
import { connect as netConnect, type Socket } from 'node:net';
import { LinkSplitter, type LinkFrame, type LinkFrameHandler } from './link';
import { Reassembler } from './transport';

/** The read buffer (reused for every read): a few maximal link frames. */
const UPSTREAM_READ_BYTES = 4096;

/** What an UpstreamSide reports to the connection that opened it. */
export interface UpstreamOwner {
  /** n bytes read into buf (reused by the next read: the link splitter copies what it keeps). */
  onUpstreamData(up: UpstreamSide, buf: Uint8Array, n: number): void;
  onUpstreamFrame(up: UpstreamSide, f: LinkFrame): boolean;
  onUpstreamMalformed(up: UpstreamSide, message: string): void;
  onUpstreamDrain(up: UpstreamSide): void;
  onUpstreamClose(up: UpstreamSide): void;
}

/** Opens the socket to the outstation at once; `connecting` until it is accepted. */
export class UpstreamSide implements LinkFrameHandler {
  readonly link = new LinkSplitter(this);
  readonly reasm: Reassembler;
  readonly socket: Socket;
  connecting = true;
  errorCode: string | null = null;

  constructor(private readonly owner: UpstreamOwner, o: { host: string; port: number; maxFragment: number }) {
    this.reasm = new Reassembler(o.maxFragment);
    const socket = netConnect({
      host: o.host, port: o.port,
      onread: { buffer: Buffer.allocUnsafeSlow(UPSTREAM_READ_BYTES), callback: (n: number, buf: Uint8Array) => { owner.onUpstreamData(this, buf, n); return true; } },
    });
    socket.setNoDelay(true);
    socket.on('connect', () => { this.connecting = false; });
    socket.on('drain', () => owner.onUpstreamDrain(this));
    socket.on('error', (err: NodeJS.ErrnoException) => { this.errorCode = err.code ?? err.message; });
    socket.on('close', () => owner.onUpstreamClose(this));
    this.socket = socket;
  }

  onLinkFrame(f: LinkFrame): boolean { return this.owner.onUpstreamFrame(this, f); }
  onLinkMalformed(message: string): void { this.owner.onUpstreamMalformed(this, message); }
}
