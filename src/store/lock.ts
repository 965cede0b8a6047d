import { linkSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * One daemon per state directory. A second instance pointed at the same directory would overwrite
 * the first one's checkpoints, so it refuses to start instead. A lock left by a process that no longer
 * runs is taken over.
 *
 * "No longer runs" is judged by more than the pid: after a crash or a reboot the pid in the file may
 * belong to another process by now (pids are reused, and low ones early after every boot), and a
 * daemon that took that for a live owner would refuse to start until someone deleted the file. So the
 * lock also records the boot and the owner's start time (Linux /proc), and an owner whose recorded
 * boot or start time differs from what runs under its pid now is gone. What was not recorded (no
 * /proc) is not compared: the pid alone decides, as before.
 *
 * Taking the lock is atomic: the record is written to a file of its own and hard-linked into place,
 * so no one ever reads a half-written lock; a stale lock is moved aside and checked to be the one
 * judged stale before it is removed, so two daemons starting at once cannot both take it.
 *
 * Not covered: two containers sharing one state volume, each in its own pid namespace, cannot see
 * each other's processes. Give each instance its own state directory.
 */
export class StateLock {
  readonly path: string;
  private held = false;
  /** The record this process wrote. */
  private record = '';

  constructor(
    dir: string,
    private readonly host: ProcessTable = linuxProcesses,
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.path = join(dir, 'vigil.lock');
  }

  acquire(): void {
    this.record = `${formatOwner(this.self())}\n`;
    const mine = `${this.path}.${process.pid}`;
    writeFileSync(mine, this.record, { mode: 0o600 });
    try {
      for (let attempt = 0; attempt < 3; attempt++) {
        try {
          linkSync(mine, this.path);
          this.held = true;
          return;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        }
        const text = this.read(this.path);
        if (text === undefined) continue; // removed meanwhile: try again
        const owner = parseOwner(text);
        if (owner !== undefined && owner.pid !== process.pid && this.running(owner)) {
          throw new Error(
            `state directory is in use by process ${owner.pid} (${this.path}); give each instance its own state.dir`,
          );
        }
        this.removeStale(text);
      }
      throw new Error(`could not take the state lock ${this.path}`);
    } finally {
      try {
        unlinkSync(mine);
      } catch {
        // Already gone.
      }
    }
  }

  release(): void {
    if (!this.held) return;
    try {
      // Only the record this process wrote: a lock another daemon has taken since stays.
      if (this.read(this.path) === this.record) unlinkSync(this.path);
    } catch {
      // Already gone.
    }
    this.held = false;
  }

  /**
   * Move the stale lock aside, and remove it only if it is still the one judged stale; if another
   * starter replaced it meanwhile, put that one back (the next link attempt then finds it live).
   */
  private removeStale(judged: string): void {
    const aside = `${this.path}.stale.${process.pid}`;
    try {
      renameSync(this.path, aside);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    if (this.read(aside) === judged) {
      unlinkSync(aside);
      return;
    }
    try {
      linkSync(aside, this.path);
    } catch {
      // Someone holds the lock again; theirs stands, and the next attempt finds it.
    }
    unlinkSync(aside);
  }

  private read(path: string): string | undefined {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return undefined;
    }
  }

  private self(): LockOwner {
    const boot = this.host.bootId();
    const started = this.host.startTime(process.pid);
    return { pid: process.pid, ...(boot ? { boot } : {}), ...(started ? { started } : {}) };
  }

  /** Whether the process that wrote `owner` is still the one running under its pid. */
  private running(owner: LockOwner): boolean {
    if (!this.host.alive(owner.pid)) return false;
    const boot = this.host.bootId();
    if (owner.boot && boot && owner.boot !== boot) return false;
    const started = this.host.startTime(owner.pid);
    if (owner.started && started && owner.started !== started) return false;
    return true;
  }
}

export interface LockOwner {
  pid: number;
  /** The kernel's boot id when the lock was taken. */
  boot?: string;
  /** The owner's start time, in clock ticks since boot (/proc/<pid>/stat field 22). */
  started?: string;
}

/** What the lock asks of the operating system (a seam for tests). */
export interface ProcessTable {
  alive(pid: number): boolean;
  bootId(): string | undefined;
  startTime(pid: number): string | undefined;
}

/** `pid boot started`; a lock written by an older Vigil holds the pid alone. */
export function formatOwner(o: LockOwner): string {
  return [o.pid, o.boot ?? '-', o.started ?? '-'].join(' ');
}

export function parseOwner(text: string): LockOwner | undefined {
  const [pidText, boot, started] = text.trim().split(/\s+/);
  const pid = Number.parseInt(pidText ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return {
    pid,
    ...(boot && boot !== '-' ? { boot } : {}),
    ...(started && started !== '-' ? { started } : {}),
  };
}

const linuxProcesses: ProcessTable = {
  alive(pid) {
    try {
      process.kill(pid, 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EPERM';
    }
  },
  bootId() {
    try {
      return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
    } catch {
      return undefined;
    }
  },
  startTime(pid) {
    try {
      // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return rest[19]; // field 22 overall; `rest` starts at field 3
    } catch {
      return undefined;
    }
  },
};
