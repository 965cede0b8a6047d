export * from './client.js';
export * from './documents.js';
export * from './indexer.js';
export * from './retention.js';
export * from './templates.js';
