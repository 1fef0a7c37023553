/**
 * The signed bundle format (design.md "Signed bundles and the trust root", modelled on TUF).
 *
 * Envelope (CBOR, RFC 8949): `{ type, body: bstr, signatures: [{ keyId, sig }] }`. Every signature
 * is ed25519 over the RAW `body` bytes; the body is itself a CBOR map and is only decoded after a
 * threshold of signatures verified. Times are epoch milliseconds (integers). A keyId is the lower
 * hex of the first 16 bytes of sha256(raw 32-byte ed25519 public key) (key-id.ts).
 */

/** What a bundle carries. Each type is signed by its own delegated role of the trust root. */
export type BundleType = 'policy' | 'grant' | 'trust' | 'command' | 'runtime';
export const BUNDLE_TYPES: readonly BundleType[] = ['policy', 'grant', 'trust', 'command', 'runtime'];

/** The trust root's roles: `root` signs trust roots, the others sign bundles of their type. */
export type RoleName = 'root' | 'policy' | 'grant' | 'command' | 'runtime';
export const ROLE_NAMES: readonly RoleName[] = ['root', 'policy', 'grant', 'command', 'runtime'];

/** The role whose keys must sign a bundle of this type. */
export const ROLE_FOR_TYPE: Readonly<Record<BundleType, RoleName>> = {
  policy: 'policy', grant: 'grant', trust: 'root', command: 'command', runtime: 'runtime',
};

export interface BundleSignature {
  keyId: string;
  /** 64 bytes of ed25519 signature over the body bytes. */
  sig: Uint8Array;
}

/** The decoded outer envelope; nothing in it is believed until the signatures verified. */
export interface Envelope {
  type: string;
  body: Uint8Array;
  signatures: BundleSignature[];
}

/** Fields every body carries, whatever its type. */
export interface BodyHeader {
  /** The site id, or '*' for every site (trust roots usually). */
  site: string;
  /** Device ids, or ['*'] for every device of the site. */
  targets: string[];
  /** Positive safe integer, strictly increasing per bundle type. */
  version: number;
  /** Epoch ms. Informational (device clocks drift); `notBefore` is the enforced lower bound. */
  issuedAt: number;
  /** Epoch ms; the bundle is refused at or after this instant. */
  expiresAt: number;
  /** Optional epoch ms before which the bundle is refused (not yet valid). */
  notBefore?: number;
  /** Policy bundles signed with `fleet sign --replay`: what recorded traffic it was replayed against. */
  replay?: ReplayEvidence;
}

/** The replay a signer ran before signing (evidence only: gateways check its shape, not its claims). */
export interface ReplayEvidence {
  /** Recorded decisions re-decided, and how many flipped each way. */
  replayed: number;
  breaks: number;
  opens: number;
  /** Epoch ms of the first and last decision replayed (0 when none). */
  from: number;
  to: number;
  /** Device audit logs read. */
  logs: number;
  /** True when the signer accepted breaks (`--accept-breaks`). */
  acceptedBreaks: boolean;
}

/** A runtime update: the package a device should install A/B. */
export interface RuntimePayload {
  /** Lower-case hex sha256 of the package file. */
  sha256: string;
  size: number;
  arch: string;
  /** The zonegate version inside, for display and the downgrade check. */
  version?: string;
  /** Signed as a deliberate downgrade: the device may install a runtime older than the one it runs. */
  downgrade?: boolean;
}

/** The payload of a trust bundle: keys and delegated roles (TUF root.json `keys`, `roles`). */
export interface TrustPayload {
  /** keyId → raw ed25519 public key as lower-case hex (64 chars). */
  keys: Record<string, { publicKey: string }>;
  /** `root` and `policy` are required; a type whose role is absent never verifies. */
  roles: TrustRoles;
}

export type TrustRoles = { readonly [R in RoleName]?: RoleSpec } & { readonly root: RoleSpec; readonly policy: RoleSpec };

export interface RoleSpec {
  keyIds: string[];
  /** How many distinct keys of keyIds must sign; 1 ≤ threshold ≤ keyIds.length. */
  threshold: number;
}

/**
 * A body as data. Exactly one payload field, matching the envelope's type: `policy` (the plain
 * policy document object, validated on the device), `grant`, `command` (plain objects their
 * owners define), `trust`, `runtime`.
 */
export interface BundleBody extends BodyHeader {
  policy?: Record<string, unknown>;
  grant?: Record<string, unknown>;
  command?: Record<string, unknown>;
  trust?: TrustPayload;
  runtime?: RuntimePayload;
}

/** A verified trust root: the payload plus its version and expiry, and the exact signed bytes. */
export interface TrustRoot {
  version: number;
  issuedAt: number;
  expiresAt: number;
  keys: ReadonlyMap<string, Uint8Array>;
  roles: TrustRoles;
  /** The exact signed envelope bytes it was read from. */
  bytes: Uint8Array;
  /** Lower-case hex sha256 of bytes. */
  hash: string;
}

/** A bundle whose signatures, type, target and validity window were checked. */
export interface VerifiedBundle {
  type: BundleType;
  body: BundleBody;
  /** The exact envelope bytes (what a store persists). */
  bytes: Uint8Array;
  /** Distinct keyIds whose signatures verified and belong to the type's role. */
  keyIds: string[];
  /** Lower-case hex sha256 of the envelope bytes. */
  hash: string;
}

/** A signing key: the raw 32-byte ed25519 seed and its public key. */
export interface SigningKey {
  /** 32-byte ed25519 private seed. */
  seed: Uint8Array;
  /** 32-byte raw public key. */
  publicKey: Uint8Array;
}

/** Default size cap of one bundle (checked before any decoding). */
export const DEFAULT_MAX_BUNDLE_BYTES = 16 * 1024 * 1024;
/** At most this many signatures are looked at in one envelope. */
export const MAX_SIGNATURES = 32;
