/**
 * TOTP (RFC 6238) over HOTP (RFC 4226): HMAC-SHA-1, 30-second steps from the Unix epoch, 6
 * digits, accepting the current step and one either side (RFC 6238 section 5.2, clock drift).
 * Seeds are base32 (RFC 4648 section 6), as authenticator apps take them.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
export const TOTP_STEP_MS = 30_000;
export const TOTP_DIGITS = 6;

/** Encodes bytes as base32 without padding. */
export function base32Encode(bytes: Uint8Array): string {
  let bits = 0, value = 0, out = '';
  for (const b of bytes) {
    value = (value << 8) | b; bits += 8;
    while (bits >= 5) { out += ALPHABET[(value >>> (bits - 5)) & 31]; bits -= 5; }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

/** Decodes base32 (case-insensitive, spaces and padding ignored); null when not base32. */
export function base32Decode(text: string): Uint8Array | null {
  const clean = text.replace(/[\s=]/g, '').toUpperCase();
  if (clean === '' || !/^[A-Z2-7]+$/.test(clean)) return null;
  const out: number[] = [];
  let bits = 0, value = 0;
  for (const ch of clean) {
    value = (value << 5) | ALPHABET.indexOf(ch); bits += 5;
    if (bits >= 8) { out.push((value >>> (bits - 8)) & 255); bits -= 8; }
  }
  return Uint8Array.from(out);
}

/** A fresh 20-byte seed (RFC 4226 section 4 recommends 160 bits), base32. */
export function newTotpSecret(): string {
  return base32Encode(randomBytes(20));
}

/** HOTP value for a counter (RFC 4226 section 5.3, dynamic truncation). */
export function hotp(key: Uint8Array, counter: number, digits = TOTP_DIGITS): string {
  const msg = Buffer.alloc(8);
  msg.writeUInt32BE(Math.floor(counter / 2 ** 32), 0);
  msg.writeUInt32BE(counter >>> 0, 4);
  const mac = createHmac('sha1', key).update(msg).digest();
  const off = mac[mac.length - 1] & 0x0f;
  const bin = ((mac[off] & 0x7f) << 24) | (mac[off + 1] << 16) | (mac[off + 2] << 8) | mac[off + 3];
  return String(bin % 10 ** digits).padStart(digits, '0');
}

/** The TOTP code of a base32 seed at epoch ms `at`. */
export function totpAt(secret: string, at: number): string {
  const key = base32Decode(secret);
  if (!key) throw new TypeError('TOTP secret is not base32');
  return hotp(key, Math.floor(at / TOTP_STEP_MS));
}

/**
 * Checks a code against steps now-1, now, now+1; returns the matching step (so a caller can
 * refuse its reuse) or null. Constant-time comparison per step.
 */
export function verifyTotp(secret: string, code: string, at: number): number | null {
  const key = base32Decode(secret);
  if (!key || !/^\d{6}$/.test(code)) return null;
  const step = Math.floor(at / TOTP_STEP_MS);
  let match: number | null = null;
  for (const s of [step - 1, step, step + 1]) {
    if (s < 0) continue;
    if (timingSafeEqual(Buffer.from(hotp(key, s)), Buffer.from(code)) && match === null) match = s;
  }
  return match;
}

/** The otpauth:// URI an authenticator app scans (Key Uri Format: issuer, SHA1, 6 digits, 30 s). */
export function otpauthUri(o: { issuer: string; account: string; secret: string }): string {
  const label = `${encodeURIComponent(o.issuer)}:${encodeURIComponent(o.account)}`;
  return `otpauth://totp/${label}?secret=${o.secret}&issuer=${encodeURIComponent(o.issuer)}&algorithm=SHA1&digits=6&period=30`;
}
