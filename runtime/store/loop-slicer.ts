/**
 * Time-boxed driving of step generators (policy/ exposes pure generators that yield between small
 * units of work; the waiting happens here): run steps until about `budgetMs` of synchronous work
 * ran since the event loop last got a turn, then hand the loop a turn and go on. Design.md
 * performance budget: no decision is delayed by an activation by much more than one budget.
 */

/** What a LoopSlicer needs: how to give the loop a turn, a monotonic ms clock and the budget. */
export interface LoopSlicerOptions {
  /** Resolves after the event loop ran (e.g. one setImmediate turn). */
  pause: () => Promise<void>;
  /** Monotonic milliseconds (performance.now). */
  clock: () => number;
  /** Synchronous work allowed between two turns of the loop, in ms. */
  budgetMs: number;
}

/** Shares one time budget across every phase of an activation. */
export class LoopSlicer {
  private readonly opts: LoopSlicerOptions;
  private sliceStart: number;
  /** The longest step seen, to pause before a step that would overrun the budget. */
  private lastStep = 0;
  /** Turns handed to the loop so far. */
  pauses = 0;

  constructor(opts: LoopSlicerOptions) {
    if (typeof opts.pause !== 'function' || typeof opts.clock !== 'function' || !(opts.budgetMs > 0)) {
      throw new TypeError('LoopSlicer needs pause, clock and a positive budgetMs');
    }
    this.opts = opts;
    this.sliceStart = opts.clock();
  }

  /** Gives the loop a turn when the budget is (about to be) spent; otherwise returns at once. */
  async checkpoint(): Promise<void> {
    if (this.opts.clock() - this.sliceStart + this.lastStep >= this.opts.budgetMs) await this.turn();
  }

  /** Gives the loop a turn now and starts a new slice. */
  async turn(): Promise<void> {
    await this.opts.pause();
    this.pauses += 1;
    this.sliceStart = this.opts.clock();
  }

  /**
   * Runs `steps` to completion in time-boxed slices; returns its value or throws its error. A
   * step that yields a value (not undefined) asks for work to be done elsewhere: `answer` does it
   * asynchronously (the loop runs meanwhile) and its result is what the step receives.
   */
  async run<T, Y = undefined>(steps: Generator<Y | undefined | void, T, unknown>, answer?: (request: Y) => Promise<unknown>): Promise<T> {
    const clock = this.opts.clock;
    let input: unknown;
    for (;;) {
      const t = clock();
      if (t - this.sliceStart + this.lastStep >= this.opts.budgetMs) await this.turn();
      const s = clock();
      const r = steps.next(input);
      const d = clock() - s;
      // Step costs vary (a slice of validation vs a generator's last bookkeeping): remember a
      // decaying maximum, so that one slow step does not make every later slice tiny.
      this.lastStep = d > this.lastStep ? d : this.lastStep * 0.75 + d * 0.25;
      if (r.done) return r.value;
      input = undefined;
      if (r.value !== undefined && r.value !== null) {
        if (!answer) throw new TypeError('LoopSlicer.run: a step asked for work and no answer was given');
        input = await answer(r.value as Y);
        this.sliceStart = clock(); // the loop ran while the answer was made
      }
    }
  }
}
