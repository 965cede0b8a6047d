export type { BatchHandler, RawRecord, RecordBatch, Source, SourcePosition } from './source.js';
export {
  LineSplitter,
  DEFAULT_MAX_LINE_BYTES,
  type LineSplitterOptions,
  type OriginFn,
} from './line-splitter.js';
export { FileTailSource, type FilePosition, type FileTailEvent, type FileTailOptions } from './file-tail.js';
export { ReplayFileSource, type ReplayFileOptions, type ReplayProgress } from './replay-file.js';
export { StdinSource, type StdinSourceOptions } from './stdin.js';
export { SocketSource, type SocketSourceEvent, type SocketSourceOptions } from './socket.js';
export {
  DEAD_LETTER_EXCERPT_BYTES,
  FileDeadLetterSink,
  MemoryDeadLetterSink,
  NullDeadLetterSink,
  escapeControls,
  toDeadLetterRecord,
  type DeadLetterEntry,
  type DeadLetterRecord,
  type DeadLetterSink,
  type DeadLetterStats,
  type FileDeadLetterSinkOptions,
} from './dead-letter.js';
