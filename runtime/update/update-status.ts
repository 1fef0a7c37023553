/** The update manager's view for `zonegate update status` and the gateway's status(). */
import { readActiveSlot, readSlotVersion, type Slot } from './layout';
import { UpdateState, type TrialMarker, type UpdateEvent } from './state-files';

export interface UpdateStatus {
  root: string;
  activeSlot: Slot | null;
  /** The VERSION of the active slot. */
  version: string | null;
  slots: Record<Slot, string | null>;
  /** Highest runtime bundle version accepted. */
  highWater: number;
  trial: TrialMarker | null;
  /** The newest outcome, e.g. a rollback and its reason. */
  last: UpdateEvent | null;
  journal: UpdateEvent[];
}

/** Reads the layout and the state files (and takes a pending boot-check rollback into the journal). */
export async function readUpdateStatus(options: { root: string; stateDir: string }): Promise<UpdateStatus> {
  const state = await UpdateState.open(options.stateDir);
  await state.ingestShellResult();
  const activeSlot = await readActiveSlot(options.root);
  const journal = await state.journal();
  return {
    root: options.root,
    activeSlot,
    version: activeSlot ? await readSlotVersion(options.root, activeSlot) : null,
    slots: { a: await readSlotVersion(options.root, 'a'), b: await readSlotVersion(options.root, 'b') },
    highWater: await state.highWater(),
    trial: await state.readTrial(),
    last: journal.length ? journal[journal.length - 1] : null,
    journal,
  };
}
