// Child of bench/run.mjs: one throughput mode over one file, in a process of its own (for peak RSS).
//   json      bare JSON.parse of every line
//   parse     Vigil's parser and request/response pairing, no detectors
//   pipeline  `vigil replay` in-process: every default detector, the alert lifecycle, no outputs; its
//             parse worker (pipeline.parse_worker, on by default) parses on a second thread
//   inline    the same with pipeline.parse_worker off: everything on one thread
import { openSync, readSync, closeSync } from 'node:fs';
import { parseAuditLine, peekRequest } from '../dist/audit/entry.js';
import { Pairer } from '../dist/audit/pairing.js';
import { loadConfig } from '../dist/config/load.js';
import { replay } from '../dist/replay.js';

const [mode, file] = process.argv.slice(2);

/**
 * Lines of the file as Buffers, chunk by chunk (the same way for both baselines). The read buffer
 * is reused: `afterChunk` runs before it is overwritten.
 */
function eachLine(fn, afterChunk = () => {}) {
  const fd = openSync(file, 'r');
  const chunk = Buffer.alloc(4 * 1024 * 1024);
  let rest = Buffer.alloc(0);
  let n;
  let lines = 0;
  while ((n = readSync(fd, chunk, 0, chunk.length, null)) > 0) {
    const buf = rest.length ? Buffer.concat([rest, chunk.subarray(0, n)]) : chunk.subarray(0, n);
    let start = 0;
    for (;;) {
      const i = buf.indexOf(10, start);
      if (i < 0) break;
      if (i > start) {
        fn(buf.subarray(start, i));
        lines++;
      }
      start = i + 1;
    }
    afterChunk();
    rest = Buffer.from(buf.subarray(start));
  }
  closeSync(fd);
  return lines;
}

const t0 = process.hrtime.bigint();
const cpu0 = process.cpuUsage();
let out;
if (mode === 'json') {
  let keys = 0;
  const lines = eachLine((b) => {
    keys += JSON.parse(b.toString('utf8')).type.length;
  });
  out = { lines, check: keys };
} else if (mode === 'parse') {
  const pairer = new Pairer();
  const expired = [];
  let events = 0;
  let latest = 0;
  const lines = eachLine(
    (b) => {
      // The pipeline's own path: request entries are recognised and kept raw, responses parsed.
      const peek = peekRequest(b);
      if (peek) {
        latest = Math.max(latest, peek.time);
        if (pairer.pushRawRequest(peek.id, peek.time, b, 'bench')) events++;
        return;
      }
      const r = parseAuditLine(b);
      if (r.ok && pairer.push(r.entry)) events++;
    },
    () => {
      // As the pipeline does per batch: copy waiting requests out of the read buffer, and let
      // event time expire unanswered requests and forget finished ids.
      pairer.detach();
      pairer.expire(latest, expired);
      events += expired.length;
      expired.length = 0;
    },
  );
  out = { lines, events };
} else {
  const { config } = loadConfig({ environment: 'development' });
  if (mode === 'inline') config.pipeline.parse_worker = false;
  const s = await replay({ config, input: file });
  out = { lines: s.counters.lines, events: s.counters.events, alerts: s.counters.opened };
}
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
const cpu = process.cpuUsage(cpu0);
console.log(
  JSON.stringify({
    ...out,
    seconds,
    linesPerSec: out.lines / seconds,
    // Every thread of the process (the pipeline's parse worker included), user + system.
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
  }),
);
