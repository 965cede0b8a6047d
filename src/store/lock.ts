import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/**
 * One daemon per state directory. A second instance pointed at the same directory would overwrite
 * the first one's checkpoints, so it refuses to start instead. A lock left by a crashed process
 * (its pid no longer runs) is taken over.
 */
export class StateLock {
  readonly path: string;
  private held = false;

  constructor(dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.path = join(dir, 'vigil.lock');
  }

  acquire(): void {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(this.path, 'wx', 0o600);
        writeSync(fd, `${process.pid}\n`);
        closeSync(fd);
        this.held = true;
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const owner = this.owner();
        if (owner !== undefined && owner !== process.pid && alive(owner)) {
          throw new Error(
            `state directory is in use by process ${owner} (${this.path}); give each instance its own state.dir`,
          );
        }
        unlinkSync(this.path);
      }
    }
    throw new Error(`could not take the state lock ${this.path}`);
  }

  release(): void {
    if (!this.held) return;
    try {
      if (this.owner() === process.pid) unlinkSync(this.path);
    } catch {
      // Already gone.
    }
    this.held = false;
  }

  private owner(): number | undefined {
    try {
      const pid = Number.parseInt(readFileSync(this.path, 'utf8').trim(), 10);
      return Number.isFinite(pid) ? pid : undefined;
    } catch {
      return undefined;
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
