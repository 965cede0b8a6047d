import { parentPort } from 'node:worker_threads';
import { WireEncoder } from './parse-wire.js';

/**
 * The parse worker: lines arrive as spans of a shared buffer the pipeline thread filled, results go
 * back in wire form (./parse-wire.ts). It keeps no state but the identity numbering, so a worker that
 * dies loses nothing: the pipeline thread parses the batches it had not answered.
 */
export interface ParseRequest {
  seq: number;
  buffer: SharedArrayBuffer;
  /** Start and end offset of each line in `buffer`. */
  bounds: Int32Array;
}

const port = parentPort;
if (!port) throw new Error('parse-worker.js runs as a worker thread');
const encoder = new WireEncoder();
port.on('message', (request: ParseRequest) => {
  const { seq, buffer, bounds } = request;
  const lines: Buffer[] = [];
  for (let i = 0; i < bounds.length; i += 2)
    lines.push(Buffer.from(buffer, bounds[i] as number, (bounds[i + 1] as number) - (bounds[i] as number)));
  port.postMessage({ seq, batch: encoder.encode(lines) });
});
