/**
 * The login page's TLS certificate: the provisioned one (config `console.web.cert` / `.key`) or,
 * on first start, a self-signed one made with the openssl binary (Node has no API to issue
 * certificates): EC P-256, 10 years, CN and subjectAltName the device id and listen address,
 * kept in the state folder as `web-cert.pem` / `web-key.pem` (0600). Without openssl it returns
 * null and the caller serves plain HTTP on loopback only, with a loud warning.
 */
import { execFile } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { ZonegateError } from '../../policy/errors';

export const WEB_CERT_FILE = 'web-cert.pem';
export const WEB_KEY_FILE = 'web-key.pem';

export interface WebCertificate {
  cert: string;
  key: string;
  /** SHA-256 fingerprint, as a technician compares it with the label on the device. */
  fingerprint: string;
  created: boolean;
}

const run = (cmd: string, args: string[]) => new Promise<void>((resolve, reject) => {
  execFile(cmd, args, { timeout: 30_000 }, (err, _o, stderr) => (err ? reject(Object.assign(err, { stderr: String(stderr) })) : resolve()));
});

/** Whether an `openssl` binary runs here. */
export async function hasOpenssl(): Promise<boolean> {
  try { await run('openssl', ['version']); return true; } catch { return false; }
}

/** The provisioned or persisted certificate, or a new self-signed one; null when none can be made. */
export async function ensureCertificate(opts: { stateDir: string; device: string; host: string; certFile?: string; keyFile?: string }): Promise<WebCertificate | null> {
  const certFile = opts.certFile ?? join(opts.stateDir, WEB_CERT_FILE);
  const keyFile = opts.keyFile ?? join(opts.stateDir, WEB_KEY_FILE);
  const existing = await readPair(certFile, keyFile);
  if (existing) return { ...existing, created: false };
  if (opts.certFile || opts.keyFile) throw new ZonegateError('ERR_CONFIG_INVALID', `cannot read the provisioned web certificate ${certFile} / ${keyFile}`);
  if (!(await hasOpenssl())) return null;
  await fsp.mkdir(opts.stateDir, { recursive: true, mode: 0o700 });
  const tmpCert = `${certFile}.tmp-${process.pid}`, tmpKey = `${keyFile}.tmp-${process.pid}`;
  const san = [`DNS:${opts.device}`, ...(isIP(opts.host) ? [`IP:${opts.host}`] : opts.host ? [`DNS:${opts.host}`] : [])].join(',');
  try {
    await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '3650',
      '-subj', `/CN=${opts.device.replace(/[^A-Za-z0-9._-]/g, '-')}`, '-addext', `subjectAltName=${san}`, '-keyout', tmpKey, '-out', tmpCert]);
    await fsp.chmod(tmpKey, 0o600);
    await fsp.rename(tmpKey, keyFile);
    await fsp.rename(tmpCert, certFile);
  } catch (e) {
    await fsp.rm(tmpKey, { force: true });
    await fsp.rm(tmpCert, { force: true });
    throw new ZonegateError('ERR_STORAGE', `openssl could not make the web certificate: ${String((e as { stderr?: string }).stderr ?? (e as Error).message).trim().slice(0, 300)}`);
  }
  const made = await readPair(certFile, keyFile);
  if (!made) throw new ZonegateError('ERR_STORAGE', 'the new web certificate cannot be read back');
  return { ...made, created: true };
}

async function readPair(certFile: string, keyFile: string): Promise<{ cert: string; key: string; fingerprint: string } | null> {
  try {
    const [cert, key] = await Promise.all([fsp.readFile(certFile, 'utf8'), fsp.readFile(keyFile, 'utf8')]);
    return { cert, key, fingerprint: new X509Certificate(cert).fingerprint256 };
  } catch {
    return null;
  }
}
