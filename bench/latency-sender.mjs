// Worker thread of bench/latency.mjs: paces benign lines and probes into the daemon's socket.
import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';

const { port, rate, seconds } = workerData;
const socket = await new Promise((resolve, reject) => {
  const s = connect({ host: '127.0.0.1', port }, () => resolve(s));
  s.once('error', reject);
});
socket.setNoDelay(true);
const hmac = (n) => 'hmac-sha256:' + n.toString(16).padStart(64, '0');

function pair(entity, display, policies, path, op, remote, nowIso) {
  const id = randomUUID();
  const auth = `{"client_token":"${hmac(entity.length)}","accessor":"${hmac(display.length + 7)}","display_name":"${display}","policies":${JSON.stringify(policies)},"entity_id":"${entity}","token_type":"service"}`;
  const req = `{"id":"${id}","operation":"${op}","mount_point":"secret/","mount_type":"kv","namespace":{"id":"root"},"path":"${path}","remote_address":"${remote}","remote_port":41000}`;
  return (
    `{"time":"${nowIso}","auth":${auth},"request":${req},"type":"request"}\n` +
    `{"time":"${nowIso}","auth":${auth},"request":${req},"response":{"mount_point":"secret/","mount_type":"kv","data":{"data":{"password":"${hmac(9)}"}}},"type":"response"}\n`
  );
}

const probes = [];
let lines = 0;
let nextProbe = 0;
const start = process.hrtime.bigint();
const end = start + BigInt(seconds) * 1_000_000_000n;
const perTick = Math.max(2, Math.round(rate / 100));
let tick = 0;
while (process.hrtime.bigint() < end) {
  const due = start + BigInt(tick) * 10_000_000n;
  const now = process.hrtime.bigint();
  if (now < due) await new Promise((r) => setTimeout(r, Number(due - now) / 1e6));
  const iso = new Date().toISOString();
  let chunk = '';
  for (let i = 0; i < perTick; i += 2) {
    const n = (tick * perTick + i) % 1000;
    chunk += pair(
      `svc-${n}`,
      'approle',
      ['default', `team-${n % 20}`],
      `secret/data/team-${n % 20}/svc-${n}/db`,
      'read',
      `10.1.${n % 250}.7`,
      iso,
    );
  }
  lines += perTick;
  if (tick % 10 === 0) {
    const id = `probe-${nextProbe++}`;
    const sentAt = process.hrtime.bigint();
    chunk += pair(id, 'root', ['root'], 'sys/mounts', 'read', '10.0.0.5', iso);
    lines += 2;
    probes.push([id, sentAt.toString()]);
  }
  if (!socket.write(chunk)) await new Promise((r) => socket.once('drain', r));
  tick++;
}
const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
await new Promise((r) => socket.end(r));
parentPort.postMessage({ lines, seconds: elapsed, probes });
