/**
 * The one error class of zonegate. Every failure that reaches a user or another part carries a
 * stable string code from ErrorCode; `name` comes from the constructor and `cause` is passed
 * through. Programmer misuse throws TypeError instead.
 */
export type ErrorCode =
  | 'ERR_POLICY_PARSE'
  | 'ERR_POLICY_INVALID'
  | 'ERR_POLICY_TEST'
  | 'ERR_REPLAY_BREAKS'
  | 'ERR_REQUEST_INVALID'
  | 'ERR_BUNDLE_SIZE'
  | 'ERR_BUNDLE_DECODE'
  | 'ERR_BUNDLE_SIGNATURE'
  | 'ERR_BUNDLE_TYPE'
  | 'ERR_BUNDLE_TARGET'
  | 'ERR_BUNDLE_ROLLBACK'
  | 'ERR_BUNDLE_CONFLICT'
  | 'ERR_BUNDLE_EXPIRED'
  | 'ERR_BUNDLE_POLICY'
  | 'ERR_TRUST_ROOT'
  | 'ERR_MODBUS_FRAME'
  | 'ERR_CONFIG_INVALID'
  | 'ERR_STORAGE'
  | 'ERR_AUDIT'
  | 'ERR_AUDIT_VERIFY'
  | 'ERR_MQTT_PAYLOAD'
  | 'ERR_MQTT_CONNECT'
  | 'ERR_MQTT_OFFLINE'
  | 'ERR_AUTH'
  | 'ERR_NFT'
  | 'ERR_UPDATE_PACKAGE'
  | 'ERR_UPDATE_INSTALL'
  | 'ERR_UPDATE_DOWNGRADE'
  | 'ERR_FILE'
  | 'ERR_USAGE';

/** One validation finding: where (file, document path, line/col) and what. */
export interface Issue {
  path: string;
  message: string;
  file?: string;
  line?: number;
  col?: number;
}

export class ZonegateError extends Error {
  readonly code: ErrorCode;
  /** Every finding, for errors that collect several (validation). */
  readonly issues: readonly Issue[];

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; issues?: readonly Issue[] } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = new.target.name;
    this.issues = options.issues ?? [];
  }
}

/** Formats a finding as `FILE:LINE:COL: PATH: message`, leaving out what is unknown. */
export function formatIssue(issue: Issue): string {
  const where = [issue.file, issue.line, issue.line !== undefined ? issue.col : undefined]
    .filter((x) => x !== undefined)
    .join(':');
  const path = issue.path === '' ? '(document)' : issue.path;
  return `${where ? `${where}: ` : ''}${path}: ${issue.message}`;
}

export function isZonegateError(e: unknown): e is ZonegateError {
  return e instanceof ZonegateError;
}
