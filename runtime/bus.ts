/**
 * A small typed event bus between the gateway's parts. Handlers are registered per owner (a
 * driver name, `gateway`, ...); a handler that throws or rejects is caught and reported to
 * `onError` with its owner, so one failing part never takes the daemon down, and every handler
 * of an owner can be removed at once when that part stops.
 */

export type Handler<P> = (payload: P) => void | Promise<void>;

export interface EventBusOptions {
  /** Told about every handler failure; must not throw. */
  onError(failure: { owner: string; event: string; error: unknown }): void;
}

export class EventBus<Events extends { [K in keyof Events]: unknown }> {
  private readonly handlers = new Map<keyof Events, { owner: string; fn: Handler<never> }[]>();

  constructor(private readonly options: EventBusOptions) {}

  /** Adds a handler for `event` on behalf of `owner`; returns a function removing it. */
  on<K extends keyof Events>(event: K, owner: string, fn: Handler<Events[K]>): () => void {
    const entry = { owner, fn: fn as Handler<never> };
    const list = this.handlers.get(event) ?? [];
    list.push(entry);
    this.handlers.set(event, list);
    return () => {
      const l = this.handlers.get(event);
      if (l) this.handlers.set(event, l.filter((e) => e !== entry));
    };
  }

  /** Removes every handler `owner` registered. */
  removeOwner(owner: string): void {
    for (const [event, list] of this.handlers) this.handlers.set(event, list.filter((e) => e.owner !== owner));
  }

  /**
   * Calls every handler of `event` in registration order. Synchronous handlers finish before
   * emit returns; the promise settles when async ones have (it never rejects).
   */
  emit<K extends keyof Events>(event: K, payload: Events[K]): Promise<void> {
    const pending: Promise<void>[] = [];
    for (const { owner, fn } of [...(this.handlers.get(event) ?? [])]) {
      const fail = (error: unknown) => {
        try { this.options.onError({ owner, event: String(event), error }); } catch { /* onError promises not to throw */ }
      };
      try {
        const r = (fn as Handler<Events[K]>)(payload);
        if (r && typeof (r as Promise<void>).then === 'function') pending.push((r as Promise<void>).then(undefined, fail));
      } catch (e) {
        fail(e);
      }
    }
    return pending.length ? Promise.all(pending).then(() => undefined) : Promise.resolve();
  }
}
