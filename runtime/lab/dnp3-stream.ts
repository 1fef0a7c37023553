/**
 * A DNP3 endpoint's receive side for the lab peers: link frames → transport → application
 * fragments, parsed. Link service frames (link status, reset) are handed out as they are.
 */
import { LinkSplitter, Reassembler, AppFragment, parseFragment, type LinkFrame, type LinkFrameHandler } from '../../drivers/dnp3';

export interface FragmentSink {
  /** A complete, well-formed fragment; `bytes` is a copy of it. */
  fragment(f: AppFragment, bytes: Buffer, src: number, dest: number): void;
  /** A link frame without user data (link service). */
  service(control: number, src: number, dest: number): void;
  /** The stream is broken (bad frame or fragment); the peer should close. */
  error(message: string): void;
}

export class Dnp3Stream implements LinkFrameHandler {
  private readonly link = new LinkSplitter(this);
  private readonly reasm = new Reassembler(4096);
  private readonly frag = new AppFragment(4096);
  constructor(private readonly sink: FragmentSink) {}

  push(chunk: Buffer): void {
    this.link.push(chunk);
  }

  onLinkFrame(f: LinkFrame): boolean {
    if (f.dataLength === 0) { this.sink.service(f.control, f.src, f.dest); return true; }
    const r = this.reasm.push(f.src, f.dest, f.data, f.dataLength);
    if (r.kind === 'malformed') { this.sink.error(r.message); return false; }
    if (r.kind === 'partial') return true;
    const bytes = Buffer.from(r.data.subarray(r.offset, r.offset + r.length));
    const problem = parseFragment(bytes, 0, bytes.length, this.frag);
    if (problem !== null) { this.sink.error(problem); return false; }
    this.sink.fragment(this.frag, bytes, r.src, r.dest);
    return true;
  }

  onLinkMalformed(message: string): void {
    this.sink.error(message);
  }
}
