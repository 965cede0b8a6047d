import { parentPort } from 'node:worker_threads';
import { WireEncoder } from './parse-wire.js';

/**
 * The parse worker: lines arrive as spans of a shared buffer the pipeline thread filled, results go
 * back in wire form (./parse-wire.ts). It keeps no state but the identity numbering, so a worker that
 * dies loses nothing: the pipeline thread parses the batches it had not answered.
 */
export interface ParseRequest {
  seq: number;
  buffers: SharedArrayBuffer[];
  /** For each line: the index of its buffer in `buffers`, its start and its end offset. */
  bounds: Int32Array;
}

const port = parentPort;
if (!port) throw new Error('parse-worker.js runs as a worker thread');
const encoder = new WireEncoder();
port.on('message', (request: ParseRequest) => {
  const { seq, buffers, bounds } = request;
  const lines: Buffer[] = [];
  for (let i = 0; i < bounds.length; i += 3) {
    const start = bounds[i + 1] as number;
    lines.push(
      Buffer.from(
        buffers[bounds[i] as number] as SharedArrayBuffer,
        start,
        (bounds[i + 2] as number) - start,
      ),
    );
  }
  port.postMessage({ seq, batch: encoder.encode(lines) });
});
