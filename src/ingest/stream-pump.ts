import type { LineSplitter } from './line-splitter.js';
import type { BatchHandler, RawRecord } from './source.js';
import { batch, slices } from './util.js';

/**
 * Split a stream of chunks into lines and deliver them in batches, awaiting the handler between
 * batches (back-pressure: the next chunk is not pulled until the handler returned). Used by the
 * replay and stdin sources, which have no resumable position. Returns the number of records delivered.
 */
export async function pumpLines(options: {
  chunks: AsyncIterable<Buffer>;
  splitter: LineSplitter;
  handler: BatchHandler;
  source: string;
  maxBatchRecords: number;
  stopping: () => boolean;
  /** Called after each chunk's records were handled. */
  onChunk?: (records: number) => void;
}): Promise<number> {
  const { chunks, splitter, handler, source, maxBatchRecords, stopping } = options;
  let total = 0;
  const deliver = async (records: RawRecord[]): Promise<void> => {
    for (const slice of slices(records, maxBatchRecords)) {
      if (stopping()) return;
      await handler(batch(source, slice));
      total += slice.length;
    }
  };
  for await (const chunk of chunks) {
    await deliver(splitter.push(chunk));
    options.onChunk?.(total);
    if (stopping()) return total;
  }
  await deliver(splitter.end());
  options.onChunk?.(total);
  return total;
}
