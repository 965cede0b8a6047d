import type { AlertTransition } from '../alerts/alert.js';
import type { Severity } from '../audit/event.js';
import type { AlertSink } from './sink.js';

const COLOURS: Record<Severity, string> = {
  info: '\x1b[37m',
  low: '\x1b[36m',
  medium: '\x1b[33m',
  high: '\x1b[31m',
  critical: '\x1b[1;41;97m',
};
const RESET = '\x1b[0m';
const DIM = '\x1b[2m';

/** Render one transition for a person at a terminal (several lines, colour when asked). */
export function formatTransition(t: AlertTransition, colour: boolean): string {
  const a = t.alert;
  const c = (code: string, text: string) => (colour ? `${code}${text}${RESET}` : text);
  const sev = c(COLOURS[a.severity], ` ${a.severity.toUpperCase()} `);
  const quiet = a.silencedBy
    ? ` (silenced: ${a.silencedBy})`
    : a.inhibitedBy
      ? ` (inhibited by ${a.inhibitedBy})`
      : '';
  const head = `${c(DIM, t.at)} ${sev} ${t.action.toUpperCase().padEnd(7)} ${a.title}  ${c(DIM, `[${a.detector} ${a.id}]${quiet}`)}`;
  if (t.action === 'resolve') return `${head}\n    resolved after ${a.eventCount} event(s)`;
  const lines = [head, `    ${a.summary}`];
  const ev = a.evidence;
  if (ev.observed !== undefined || ev.expected !== undefined) {
    lines.push(
      c(
        DIM,
        `    observed ${String(ev.observed ?? '?')}, expected ${String(ev.expected ?? '?')}, window ${String(ev.window ?? '?')}, score ${a.score}`,
      ),
    );
  }
  lines.push(
    c(
      DIM,
      `    runbook: ${a.links.runbook ?? a.runbook}${a.links.kibana ? `  investigate: ${a.links.kibana}` : ''}`,
    ),
  );
  return lines.join('\n');
}

/** Pretty alert lines on a terminal. Not durable: after a crash only new transitions are shown. */
export class ConsoleSink implements AlertSink {
  readonly name = 'console';
  constructor(
    private readonly out: NodeJS.WritableStream = process.stdout,
    private readonly colour = Boolean((process.stdout as { isTTY?: boolean }).isTTY),
  ) {}

  async write(transitions: readonly AlertTransition[], recovering = false): Promise<void> {
    if (recovering) return;
    for (const t of transitions) this.out.write(formatTransition(t, this.colour) + '\n');
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}
