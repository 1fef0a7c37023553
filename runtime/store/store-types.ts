/**
 * The shapes of the policy store (policy-store.ts): its blob names, status, events, options,
 * and the candidate a bundle becomes once verified, validated, compiled and tested.
 */
import type { ErrorCode, Issue } from '../../policy/errors';
import type { PolicyIndex } from '../../policy/compile';
import type { PolicyDocument } from '../../policy/types';
import type { VerifiedBundle } from '../../policy/bundle/types';
import type { AuditSink } from '../../drivers/types';
import type { BlobStore } from './blob-store';
import type { TrustStore } from './trust-store';

/** Blob names in stateDir: the enforced bundle, the one before it, the high-water mark (JSON `{ version, hash }`). */
export const ACTIVE_BLOB = 'policy.active';
export const PREVIOUS_BLOB = 'policy.previous';
export const HWM_BLOB = 'policy.hwm';

/** Where a bundle came from (status, audit). */
export type BundleSource = 'mqtt' | 'import' | 'boot';

/** The active policy as status and events show it. */
export interface ActivePolicy {
  /** The bundle's version number. */
  version: number;
  /** `v<version>-<first 8 hex of sha256(bundle)>`, the tag of every decision. */
  policyVersion: string;
  /** Lower hex sha256 of the exact bundle bytes. */
  hash: string;
  site: string;
  targets: string[];
  issuedAt: number;
  expiresAt: number;
  /** keyIds whose signatures counted. */
  signedBy: string[];
  source: BundleSource;
  /** Epoch ms of this activation (process-local). */
  activatedAt: number;
  conduits: number;
  onExpiry: 'keep-enforcing' | 'deny-all';
}

export type StoreAlarmKind = 'policy-conflict' | 'policy-expired' | 'bundle-corrupt' | 'policy-unverifiable' | 'policy-rollback';

export interface StoreAlarm {
  kind: StoreAlarmKind;
  message: string;
  at: number;
}

export interface StoreError {
  code: ErrorCode | string;
  message: string;
  issues: readonly Issue[];
  at: number;
  source: BundleSource | 'trust';
}

/**
 * - `no-policy`: nothing verified to enforce; everything is denied.
 * - `active`: enforcing `active`.
 * - `expired-enforcing`: the active bundle expired and settings.onExpiry is keep-enforcing.
 * - `expired-deny-all`: it expired and onExpiry is deny-all; the index is null.
 */
export type StoreState = 'no-policy' | 'active' | 'expired-enforcing' | 'expired-deny-all';

export interface PolicyStoreStatus {
  state: StoreState;
  active: ActivePolicy | null;
  /** The version and hash of the kept previous bundle, if any. */
  previous: { version: number; hash: string } | null;
  /** The highest policy version ever activated here (rollback protection). */
  highWater: { version: number; hash: string } | null;
  trustRoot: { version: number; expiresAt: number; hash: string };
  lastError: StoreError | null;
  /** The most recent alarms, newest last (at most 16 kept; `alarmsDropped` counts the rest). */
  alarms: StoreAlarm[];
  alarmsDropped: number;
  counts: { activated: number; unchanged: number; refused: number };
}

/** What acceptTrust did: `unchanged` when the bytes are the root already in force. */
export interface TrustAcceptResult {
  outcome: 'rotated' | 'unchanged';
  version: number;
  expiresAt: number;
  hash: string;
}

export interface AcceptResult {
  outcome: 'activated' | 'unchanged';
  active: ActivePolicy;
}

export interface PolicyStoreEvents {
  activated: [ActivePolicy];
  unchanged: [ActivePolicy];
  refused: [StoreError];
  alarm: [StoreAlarm];
  /** The index handed to `activate` changed (null: deny-all). */
  index: [PolicyIndex | null];
  trust: [{ version: number; expiresAt: number; hash: string }];
}

/** The store's events as they travel on an event bus (runtime/bus.ts): `store:activated`, ... */
export type StoreBusEvents = { [K in keyof PolicyStoreEvents as `store:${K}`]: PolicyStoreEvents[K][0] };

/** The part of an EventBus the store needs; the daemon passes its own bus (GatewayEvents include StoreBusEvents). */
export interface StoreEventBus {
  on<K extends keyof StoreBusEvents>(event: K, owner: string, fn: (payload: StoreBusEvents[K]) => void | Promise<void>): () => void;
  emit<K extends keyof StoreBusEvents>(event: K, payload: StoreBusEvents[K]): Promise<void>;
}

export interface PolicyStoreOptions {
  blobs: BlobStore;
  trust: TrustStore;
  /** This gateway's device id and site (from the gateway config). */
  device: string;
  site: string;
  /** Epoch ms. */
  now: () => number;
  /** Size cap of one bundle; default 16 MiB. */
  maxBytes?: number;
  audit?: AuditSink;
  /** Where the store's events go (`store:<event>`); default a bus of its own. Handlers' failures never reach the store. */
  bus?: StoreEventBus;
  /** Called with every new active index (null: deny everything), e.g. decider.setIndex. Must not throw. */
  activate?: (index: PolicyIndex | null) => void;
  /**
   * Lets the event loop run between the slices of an activation (signatures, body decode,
   * validation, compile, tests: each a pure step generator in policy/), so that decisions waiting
   * behind it are delayed by one slice, not by all of them. Default: one setImmediate turn.
   */
  yieldToLoop?: () => Promise<void>;
  /** Synchronous work between two turns of the event loop during an activation; default 0.5 ms. */
  sliceMs?: number;
  /** Monotonic ms clock that times the slices; default performance.now. */
  monotonic?: () => number;
}

/** A bundle that passed everything short of persisting. */
export interface Candidate {
  bundle: VerifiedBundle;
  doc: PolicyDocument;
  index: PolicyIndex;
  policyVersion: string;
}
