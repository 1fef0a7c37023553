/**
 * Samples telemetry every intervalMs (timers injected), keeps the latest sample for the status,
 * and publishes each one through the injected publish function (MqttSync.publishTelemetry:
 * QoS 0 on `.../telemetry`, false when offline, which is counted here and not retried: telemetry
 * is a gauge, the next sample supersedes it). One sample at a time; a slow probe never stacks up.
 */
import type { TelemetrySample } from './sample';

export interface SamplerTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface TelemetrySamplerOptions {
  /** Takes one sample (sampleTelemetry bound to the state folder). */
  sample(): Promise<TelemetrySample>;
  /** Publishes a sample; false when it could not (offline). Optional. */
  publish?: (doc: Record<string, unknown>) => boolean;
  /** Default 60,000 ms. */
  intervalMs?: number;
  timers?: SamplerTimers;
  /** Extra fields for the published document (device, site). */
  labels?: Record<string, string>;
}

export interface SamplerStatus {
  samples: number;
  published: number;
  /** publish() returned false (offline or over the cap). */
  notPublished: number;
  failures: number;
  lastError: string | null;
  lastAt: number | null;
}

export interface TelemetrySampler {
  /** Samples at once, then every intervalMs. */
  start(): void;
  stop(): void;
  /** Takes a sample now (also publishes it); resolves with it. */
  sampleNow(): Promise<TelemetrySample | null>;
  latest(): TelemetrySample | null;
  status(): SamplerStatus;
}

const realTimers: SamplerTimers = { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };

/** Builds the sampler; nothing runs until start() or sampleNow(). */
export function createTelemetrySampler(o: TelemetrySamplerOptions): TelemetrySampler {
  const timers = o.timers ?? realTimers;
  const intervalMs = o.intervalMs ?? 60_000;
  if (!(intervalMs >= 1000)) throw new TypeError('telemetry: intervalMs must be at least 1000');
  const st: SamplerStatus = { samples: 0, published: 0, notPublished: 0, failures: 0, lastError: null, lastAt: null };
  let latest: TelemetrySample | null = null;
  let running = false;
  let timer: unknown = null;
  let inFlight: Promise<TelemetrySample | null> | null = null;

  function once(): Promise<TelemetrySample | null> {
    if (inFlight) return inFlight;
    inFlight = (async () => {
      try {
        const s = await o.sample();
        latest = s;
        st.samples++;
        st.lastAt = s.at;
        if (o.publish) {
          let ok = false;
          try { ok = o.publish({ ...o.labels, ...s } as unknown as Record<string, unknown>); } catch (e) { st.lastError = (e as Error).message; }
          if (ok) st.published++; else st.notPublished++;
        }
        return s;
      } catch (e) {
        st.failures++;
        st.lastError = (e as Error)?.message ?? String(e);
        return null;
      } finally {
        inFlight = null;
      }
    })();
    return inFlight;
  }

  function arm(): void {
    if (!running) return;
    timer = timers.setTimeout(() => { timer = null; void once().then(arm); }, intervalMs);
  }

  return {
    start() {
      if (running) return;
      running = true;
      void once().then(arm);
    },
    stop() {
      running = false;
      if (timer !== null) { timers.clearTimeout(timer); timer = null; }
    },
    sampleNow: once,
    latest: () => latest,
    status: () => ({ ...st }),
  };
}
