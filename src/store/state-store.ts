import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { deserialize, serialize } from 'node:v8';
import type { PipelineSnapshot } from '../pipeline.js';
import { writeFileAtomic } from './atomic.js';

/** Everything needed to continue exactly where a previous run stopped. */
export interface Checkpoint {
  format: 'vigil-state/1';
  /** Wall-clock time the checkpoint was written (for operators; not used by detection). */
  savedAt: string;
  pipeline: PipelineSnapshot;
  /** Per source name: the position reached when the pipeline state was taken. */
  positions: Record<string, unknown>;
  /** Length of the transition journal covered by this checkpoint. */
  journalOffset: number;
  /** State owned by effects-side components (silences, outbox references), by component name. */
  extras: Record<string, unknown>;
}

/**
 * The state directory's checkpoint file. Stored with V8's serializer: it keeps typed arrays and
 * maps compact and is documented as safe to store and read back with later Node.js versions.
 */
export class StateStore {
  readonly path: string;

  constructor(readonly dir: string) {
    this.path = join(dir, 'checkpoint.v8');
  }

  load(): Checkpoint | undefined {
    if (!existsSync(this.path)) return undefined;
    let value: unknown;
    try {
      value = deserialize(readFileSync(this.path));
    } catch (err) {
      throw new Error(
        `state file ${this.path} is unreadable (${(err as Error).message}); move it away to start afresh`,
      );
    }
    const checkpoint = value as Partial<Checkpoint>;
    if (checkpoint?.format !== 'vigil-state/1') {
      throw new Error(`state file ${this.path} has an unknown format; move it away to start afresh`);
    }
    return checkpoint as Checkpoint;
  }

  /** Serialise now (synchronously, so the state cannot change underneath), write atomically. */
  async save(checkpoint: Checkpoint): Promise<number> {
    const bytes = serialize(checkpoint);
    await writeFileAtomic(this.path, bytes);
    return bytes.length;
  }
}
