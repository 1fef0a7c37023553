/**
 * Checks the config's listeners against the policy and fills in what the policy knows: the
 * asset must exist and offer the service (modbus, or a tcp service), the service port is the
 * asset's port for that protocol, and the upstream defaults to the asset's first policy address
 * and that port. Every problem is an issue located in the config file.
 */
import { ZonegateError } from '../../policy/errors';
import { IssueList, didYouMean } from '../../policy/check';
import type { PolicyDocument } from '../../policy/types';
import { listenLabel, listenerProtocol, SERIAL_LISTEN, type GatewayConfig, type HostPort, type ListenerConfig, type ListenerService } from '../config';
import type { SerialConfig } from './serial';
import type { Iec104Link } from '../../drivers/iec104/window';
import { formatHostPort } from '../../protocol/host-port';

/** A listener ready to build a driver for. */
export interface ResolvedListener {
  listen: HostPort;
  asset: string;
  service: ListenerService;
  /** The asset service's port in the policy (what decisions are asked about). */
  servicePort: number;
  upstream: HostPort;
  /** True when upstream came from the policy address rather than the config. */
  upstreamFromPolicy: boolean;
  /** Position in the config's `listeners`. */
  index: number;
  /** The RTU line (modbus-rtu-gateway: its upstream; modbus-rtu: where it listens) and modbus-rtu's master identity. */
  serial?: SerialConfig;
  identity?: string;
  /** iec104: the link's k, w and t1/t2/t3, when the config sets them. */
  iec104?: Iec104Link;
  /** Identifies a listener across reloads: same key = same listener, left untouched. */
  key: string;
}

/** How a listener's far end is shown: `host:port`, or `serial:DEVICE` for a modbus-rtu-gateway. */
export function upstreamLabel(l: { service: ListenerService; upstream: HostPort; serial?: SerialConfig }): string {
  return l.service === 'modbus-rtu-gateway' && l.serial ? `serial:${l.serial.device}` : formatHostPort(l.upstream);
}

/** The resolved listener with its key; the line settings, the master identity and the IEC 104 link settings are part of it (a change restarts the listener). */
function resolved(l: ListenerConfig, servicePort: number, upstream: HostPort, upstreamFromPolicy: boolean): ResolvedListener {
  const s = l.serial, a = l.iec104;
  const line = (s ? ` ${s.baud}/${s.parity}/${s.stopBits}/${s.interFrameMs ?? '-'}/${s.responseMs}/${s.turnaroundMs}${l.identity !== undefined ? ` as ${l.identity}` : ''}` : '')
    + (a ? ` k${a.k}/w${a.w}/t1 ${a.t1Ms}/t2 ${a.t2Ms}/t3 ${a.t3Ms}` : '');
  const spec = { service: l.service, listen: l.listen, upstream, ...(s ? { serial: s } : {}) };
  return {
    listen: l.listen, asset: l.asset, service: l.service, servicePort, upstream, upstreamFromPolicy, index: l.index,
    ...(s ? { serial: s } : {}), ...(l.identity !== undefined ? { identity: l.identity } : {}), ...(a ? { iec104: a } : {}),
    key: `${listenLabel(spec)} ${l.asset} ${l.service}/${servicePort} -> ${upstreamLabel(spec)}${line}`,
  };
}

/** Throws ZonegateError('ERR_CONFIG_INVALID') listing every listener the policy cannot serve. */
export function resolveListeners(config: GatewayConfig, doc: PolicyDocument): ResolvedListener[] {
  const out = new IssueList({ file: config.file, locate: config.locate });
  if (config.site !== doc.site) out.add(['site'], `the config is for site '${config.site}' but the policy is for site '${doc.site}'`);
  const assets = new Map(doc.assets.map((a) => [a.id, a]));
  const identities = new Set(doc.identities.map((i) => i.id));
  const res: ResolvedListener[] = [];
  for (const l of config.listeners) {
    const path = ['listeners', l.index];
    const asset = assets.get(l.asset);
    if (!asset) {
      out.add([...path, 'asset'], `the policy has no asset '${l.asset}'${didYouMean(l.asset, assets.keys())}`);
      continue;
    }
    if (l.identity !== undefined && !identities.has(l.identity)) {
      out.add([...path, 'identity'], `the policy has no identity '${l.identity}'${didYouMean(l.identity, identities)}`);
      continue;
    }
    const protocol = listenerProtocol(l);
    const services = asset.services.filter((s) => s.protocol === protocol);
    if (services.length === 0) {
      const offered = asset.services.map((s) => `${s.protocol}/${s.port}`).join(', ') || 'none';
      out.add([...path, 'service'], `asset '${l.asset}' offers no ${protocol} service in the policy (it offers: ${offered})`);
      continue;
    }
    let servicePort: number;
    if (l.port !== undefined) {
      if (!services.some((s) => s.port === l.port)) {
        out.add([...path, 'port'], `asset '${l.asset}' has no ${protocol} service on port ${l.port} (ports: ${services.map((s) => s.port).join(', ')})`);
        continue;
      }
      servicePort = l.port;
    } else if (services.length > 1) {
      out.add([...path, 'port'], `asset '${l.asset}' has several ${protocol} services (ports ${services.map((s) => s.port).join(', ')}): say which with 'port'`);
      continue;
    } else servicePort = services[0].port;
    let upstream = l.service === 'modbus-rtu-gateway' ? { ...SERIAL_LISTEN } : l.upstream;
    if (!upstream) {
      const addr = asset.addresses[0];
      if (addr === undefined) {
        out.add([...path, 'upstream'], `asset '${l.asset}' has no address in the policy: give 'upstream' here`);
        continue;
      }
      upstream = { host: addr, port: servicePort };
    }
    res.push(resolved(l, servicePort, upstream, !l.upstream && l.service !== 'modbus-rtu-gateway'));
  }
  if (out.count > 0) {
    throw new ZonegateError('ERR_CONFIG_INVALID',
      `gateway config ${config.file} does not fit the policy: ${out.count} problem${out.count === 1 ? '' : 's'}`, { issues: out.issues });
  }
  return res;
}

/** A listener that could not be fitted to the policy (lenient resolution). */
export interface ListenerProblem {
  index: number;
  listen: string;
  asset: string;
  message: string;
  /** Whether the listener still stands (on its config upstream, deciding with the policy it has). */
  started: boolean;
}

/**
 * Resolution for policies the gateway does not choose (signed bundles, or none at all): the
 * listeners must stand whatever arrives, because enforcement is the decider's job and a listener
 * that is down cannot be re-enabled by the next bundle. Each listener is resolved against `doc`
 * when it fits; otherwise it falls back to its config alone (`upstream` required; the service
 * port is `port`, else 502 for modbus and the upstream's port for tcp) and the problem is
 * reported. With no policy every decision is `no-policy`, so such a listener denies everything.
 */
export function resolveListenersLenient(config: GatewayConfig, doc: PolicyDocument | null): { specs: ResolvedListener[]; problems: ListenerProblem[] } {
  const specs: ResolvedListener[] = [];
  const problems: ListenerProblem[] = [];
  for (const l of config.listeners) {
    let why: string | undefined;
    if (doc) {
      try {
        specs.push(...resolveListeners({ ...config, site: doc.site, listeners: [l] }, doc));
        continue;
      } catch (e) {
        const issues = (e as ZonegateError).issues ?? [];
        why = issues.map((i) => i.message).join('; ') || (e as Error).message;
      }
    }
    const listen = listenLabel(l);
    const upstream = l.service === 'modbus-rtu-gateway' ? { ...SERIAL_LISTEN } : l.upstream;
    if (!upstream) {
      problems.push({ index: l.index, listen, asset: l.asset, message: `${why ?? 'no policy yet'}; no 'upstream' in the config, so the listener cannot start`, started: false });
      continue;
    }
    const protocol = listenerProtocol(l);
    const servicePort = l.port ?? (protocol === 'modbus' ? 502 : protocol === 'dnp3' ? 20000 : protocol === 'iec104' ? 2404 : upstream.port);
    if (why) problems.push({ index: l.index, listen, asset: l.asset, message: why, started: true });
    specs.push(resolved(l, servicePort, upstream, false));
  }
  return { specs, problems };
}
