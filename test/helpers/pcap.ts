/**
 * Writes pcap files (libpcap format, Ethernet link type) from TCP payloads, so that tests can
 * hand the bytes zonegate and the lab peers produced to tshark. Each payload is wrapped in
 * Ethernet, IPv4 (checksummed) and TCP headers with consistent sequence and acknowledgement
 * numbers per direction, after a three-way handshake, so tshark's TCP analysis stays quiet.
 */
import { writeFileSync } from 'node:fs';

export interface PcapFlow {
  client: { ip: string; port: number };
  server: { ip: string; port: number };
}

function ipBytes(ip: string): number[] {
  return ip.split('.').map(Number);
}

function checksum(b: Buffer): number {
  let sum = 0;
  for (let i = 0; i + 1 < b.length; i += 2) sum += b.readUInt16BE(i);
  if (b.length % 2 === 1) sum += b[b.length - 1] << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** Collects the packets of one TCP conversation and writes them as a pcap. */
export class PcapWriter {
  private readonly packets: Buffer[] = [];
  private seq = { c: 1000, s: 5000 };
  private t = 1_700_000_000_000;

  constructor(private readonly flow: PcapFlow) {
    this.packet('c', Buffer.alloc(0), 0x02);
    this.seq.c += 1;
    this.packet('s', Buffer.alloc(0), 0x12);
    this.seq.s += 1;
    this.packet('c', Buffer.alloc(0), 0x10);
  }

  /** One segment from the client (`c`, the master) or the server (`s`, the outstation). */
  add(from: 'c' | 's', payload: Uint8Array): void {
    this.packet(from, Buffer.from(payload), 0x18);
    this.seq[from] += payload.length;
  }

  private packet(from: 'c' | 's', payload: Buffer, flags: number): void {
    const a = from === 'c' ? this.flow.client : this.flow.server;
    const b = from === 'c' ? this.flow.server : this.flow.client;
    const tcp = Buffer.alloc(20);
    tcp.writeUInt16BE(a.port, 0);
    tcp.writeUInt16BE(b.port, 2);
    tcp.writeUInt32BE(this.seq[from] >>> 0, 4);
    tcp.writeUInt32BE(flags === 0x02 ? 0 : this.seq[from === 'c' ? 's' : 'c'] >>> 0, 8);
    tcp[12] = 5 << 4;
    tcp[13] = flags;
    tcp.writeUInt16BE(65535, 14);
    const pseudo = Buffer.concat([Buffer.from([...ipBytes(a.ip), ...ipBytes(b.ip), 0, 6]), Buffer.from([(20 + payload.length) >> 8, (20 + payload.length) & 0xff]), tcp, payload]);
    tcp.writeUInt16BE(checksum(pseudo), 16);
    const ip = Buffer.alloc(20);
    ip[0] = 0x45;
    ip.writeUInt16BE(20 + 20 + payload.length, 2);
    ip.writeUInt16BE(this.packets.length & 0xffff, 4);
    ip.writeUInt16BE(0x4000, 6);
    ip[8] = 64;
    ip[9] = 6;
    ip.set(ipBytes(a.ip), 12);
    ip.set(ipBytes(b.ip), 16);
    ip.writeUInt16BE(checksum(ip), 10);
    const eth = Buffer.from([2, 0, 0, 0, 0, from === 'c' ? 2 : 1, 2, 0, 0, 0, 0, from === 'c' ? 1 : 2, 0x08, 0x00]);
    const frame = Buffer.concat([eth, ip, tcp, payload]);
    const rec = Buffer.alloc(16);
    this.t += 1;
    rec.writeUInt32LE(Math.floor(this.t / 1000), 0);
    rec.writeUInt32LE((this.t % 1000) * 1000, 4);
    rec.writeUInt32LE(frame.length, 8);
    rec.writeUInt32LE(frame.length, 12);
    this.packets.push(rec, frame);
  }

  /** The pcap file's bytes. */
  bytes(): Buffer {
    const head = Buffer.alloc(24);
    head.writeUInt32LE(0xa1b2c3d4, 0);
    head.writeUInt16LE(2, 4);
    head.writeUInt16LE(4, 6);
    head.writeUInt32LE(65535, 16);
    head.writeUInt32LE(1, 20);
    return Buffer.concat([head, ...this.packets]);
  }

  write(file: string): void {
    writeFileSync(file, this.bytes());
  }
}
