#!/usr/bin/env node
// Readiness probe for a Kafka broker, with no dependencies beyond Node itself.
//
//   node kafka-ping.mjs [host] [port] [timeoutMs]            exit 0 = ready, 1 = not ready
//   node kafka-ping.mjs [host] [port] [timeoutMs] --group    also wait for a group coordinator
//
// Ready means: a Metadata v1 request (asking for no topics) lists at least one broker and a
// controller. With --group it then sends FindCoordinator v0 until the broker names a coordinator
// for a probe group; that makes the broker create __consumer_offsets, so the first consumer
// group of a test run does not hit "coordinator not available/loading" and back off.
import net from 'node:net';

const [host = '127.0.0.1', portArg = '9092', timeoutArg = '3000'] = process.argv
  .slice(2)
  .filter((a) => !a.startsWith('--'));
const port = Number(portArg);
const timeoutMs = Number(timeoutArg);
const wantGroup = process.argv.includes('--group');

function fail(msg) {
  process.stderr.write(`kafka-ping: ${msg}\n`);
  process.exit(1);
}
setTimeout(() => fail(`timeout after ${timeoutMs} ms`), timeoutMs).unref();

function str(s) {
  const b = Buffer.from(s);
  const len = Buffer.alloc(2);
  len.writeInt16BE(b.length, 0);
  return Buffer.concat([len, b]);
}

/** Sends one request (header v1) and resolves with the response body after the correlation id. */
function request(sock, apiKey, apiVersion, correlationId, body) {
  const head = Buffer.alloc(8);
  head.writeInt16BE(apiKey, 0);
  head.writeInt16BE(apiVersion, 2);
  head.writeInt32BE(correlationId, 4);
  const msg = Buffer.concat([head, str('vigil-ping'), body]);
  const size = Buffer.alloc(4);
  size.writeInt32BE(msg.length, 0);
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length < 4 || buf.length < 4 + buf.readInt32BE(0)) return;
      sock.off('data', onData);
      if (buf.readInt32BE(4) !== correlationId) reject(new Error('unexpected correlation id'));
      else resolve(buf.subarray(8, 4 + buf.readInt32BE(0)));
    };
    sock.on('data', onData);
    sock.write(Buffer.concat([size, msg]));
  });
}

async function metadata(sock) {
  const body = await request(sock, 3, 1, 1, Buffer.from([0, 0, 0, 0])); // topics: [] = none
  let o = 0;
  const brokers = body.readInt32BE(o);
  o += 4;
  const seen = [];
  for (let i = 0; i < brokers; i++) {
    const nodeId = body.readInt32BE(o);
    const hostLen = body.readInt16BE(o + 4);
    const h = body.toString('utf8', o + 6, o + 6 + hostLen);
    o += 6 + hostLen;
    const p = body.readInt32BE(o);
    const rackLen = body.readInt16BE(o + 4);
    o += 6 + Math.max(rackLen, 0);
    seen.push(`${nodeId}@${h}:${p}`);
  }
  const controllerId = body.readInt32BE(o);
  if (brokers < 1) fail('no brokers registered yet');
  if (controllerId < 0) fail('no controller yet');
  return `brokers=${seen.join(',')} controller=${controllerId}`;
}

async function findCoordinator(sock) {
  for (let attempt = 2; ; attempt++) {
    const body = await request(sock, 10, 0, attempt, str('vigil-ping'));
    const errorCode = body.readInt16BE(0);
    if (errorCode === 0) return `coordinator=${body.readInt32BE(2)}`;
    // 14 = COORDINATOR_LOAD_IN_PROGRESS, 15 = COORDINATOR_NOT_AVAILABLE: retry until the timeout
    if (errorCode !== 14 && errorCode !== 15) fail(`FindCoordinator error ${errorCode}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const sock = net.connect({ host, port });
sock.on('error', (e) => fail(e.message));
sock.on('connect', async () => {
  try {
    const out = [await metadata(sock)];
    if (wantGroup) out.push(await findCoordinator(sock));
    process.stdout.write(`${out.join(' ')}\n`);
    sock.destroy();
    process.exit(0);
  } catch (e) {
    fail(`bad response: ${e.message}`);
  }
});
