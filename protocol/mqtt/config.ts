/**
 * The gateway config's `mqtt:` block (runtime/config/blocks.ts reads it at load with
 * parseMqttConfig). Shape:
 *
 *   mqtt: { url, clientId?, username?, passwordFile?, ca?, cert?, key?, keepalive?, maxPayloadBytes? }
 *
 * Paths are kept as written (resolved by the caller against the config file's folder).
 */
import type { Issue } from '../../policy/errors';

export interface MqttConfig {
  /** mqtt://, mqtts://, tcp:// or ssl:// with host and optional port. */
  url: string;
  clientId?: string;
  username?: string;
  /** A file whose first line is the password (never the password in the config itself). */
  passwordFile?: string;
  /** PEM files: CA bundle, client certificate and its key (TLS client authentication). */
  ca?: string;
  cert?: string;
  key?: string;
  /** Seconds, 0..65535. Default 30. */
  keepalive: number;
  /** Cap of a policy payload in bytes. Default 4 MiB. Other kinds have smaller caps (topics.ts). */
  maxPayloadBytes: number;
}

export const MQTT_DEFAULTS = { keepalive: 30, maxPayloadBytes: 4 * 1024 * 1024 } as const;
const KEYS = ['url', 'clientId', 'username', 'passwordFile', 'ca', 'cert', 'key', 'keepalive', 'maxPayloadBytes'];
const SCHEMES = ['mqtt:', 'mqtts:', 'tcp:', 'ssl:'];

/**
 * Validates the `mqtt` block found at document path `path` (e.g. `mqtt`). Collects every
 * problem as an Issue (`mqtt.keepalive: ...`); `config` is undefined when there is any.
 */
export function parseMqttConfig(raw: unknown, path = 'mqtt'): { config?: MqttConfig; issues: Issue[] } {
  const issues: Issue[] = [];
  const at = (k: string) => (path ? `${path}.${k}` : k);
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    return { issues: [{ path, message: 'must be a mapping with at least `url`' }] };
  }
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!KEYS.includes(k)) issues.push({ path: at(k), message: `unknown key (expected one of ${KEYS.join(', ')})` });
  }
  const str = (k: string, required = false): string | undefined => {
    const v = o[k];
    if (v === undefined || v === null) {
      if (required) issues.push({ path: at(k), message: 'is required' });
      return undefined;
    }
    if (typeof v !== 'string' || v.length === 0) { issues.push({ path: at(k), message: 'must be a non-empty string' }); return undefined; }
    return v;
  };
  const int = (k: string, min: number, max: number, dflt: number): number => {
    const v = o[k];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      issues.push({ path: at(k), message: `must be an integer within ${min}..${max}` });
      return dflt;
    }
    return v;
  };
  const url = str('url', true);
  if (url !== undefined) {
    let u: URL | undefined;
    try { u = new URL(url); } catch { issues.push({ path: at('url'), message: `not a URL: ${JSON.stringify(url)}` }); }
    if (u) {
      if (!SCHEMES.includes(u.protocol)) issues.push({ path: at('url'), message: `scheme must be one of ${SCHEMES.map((s) => s.slice(0, -1)).join(', ')}` });
      if (!u.hostname) issues.push({ path: at('url'), message: 'has no host' });
      if (u.password) issues.push({ path: at('url'), message: 'must not carry a password (use passwordFile)' });
    }
  }
  const clientId = str('clientId');
  if (clientId !== undefined && (Buffer.byteLength(clientId) > 256 || /[\u0000+#]/.test(clientId))) {
    issues.push({ path: at('clientId'), message: "at most 256 bytes, without NUL, '+' or '#'" });
  }
  const config: MqttConfig = {
    url: url ?? '',
    clientId,
    username: str('username'),
    passwordFile: str('passwordFile'),
    ca: str('ca'),
    cert: str('cert'),
    key: str('key'),
    keepalive: int('keepalive', 0, 65535, MQTT_DEFAULTS.keepalive),
    maxPayloadBytes: int('maxPayloadBytes', 1024, 256 * 1024 * 1024, MQTT_DEFAULTS.maxPayloadBytes),
  };
  if ((config.cert === undefined) !== (config.key === undefined)) {
    issues.push({ path: at(config.cert === undefined ? 'cert' : 'key'), message: 'cert and key must be given together' });
  }
  for (const k of Object.keys(config) as (keyof MqttConfig)[]) if (config[k] === undefined) delete config[k];
  return issues.length ? { issues } : { config, issues };
}
