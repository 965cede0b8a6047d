import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/**
 * One daemon per state directory. A second instance pointed at the same directory would overwrite
 * the first one's checkpoints, so it refuses to start instead. A lock left by a process that no longer
 * runs is taken over.
 *
 * "No longer runs" is judged by more than the pid: after a crash or a reboot the pid in the file may
 * belong to another process by now (pids are reused, and low ones early after every boot), and a
 * daemon that took that for a live owner would refuse to start until someone deleted the file. So the
 * lock also records the boot and the owner's start time (Linux /proc), and an owner counts as alive
 * only if all three still match. Where /proc is missing, the pid alone decides, as before.
 */
export class StateLock {
  readonly path: string;
  private held = false;

  constructor(
    dir: string,
    private readonly host: ProcessTable = linuxProcesses,
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.path = join(dir, 'vigil.lock');
  }

  acquire(): void {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(this.path, 'wx', 0o600);
        writeSync(fd, `${formatOwner(this.self())}\n`);
        closeSync(fd);
        this.held = true;
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const owner = this.owner();
        if (owner !== undefined && owner.pid !== process.pid && this.running(owner)) {
          throw new Error(
            `state directory is in use by process ${owner.pid} (${this.path}); give each instance its own state.dir`,
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
      if (this.owner()?.pid === process.pid) unlinkSync(this.path);
    } catch {
      // Already gone.
    }
    this.held = false;
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

  private owner(): LockOwner | undefined {
    try {
      return parseOwner(readFileSync(this.path, 'utf8'));
    } catch {
      return undefined;
    }
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
