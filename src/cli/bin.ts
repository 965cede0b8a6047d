#!/usr/bin/env node
import { scrubText } from '../audit/secrets.js';
import { main } from './main.js';

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`vigil: ${scrubText(String(err))}`);
    process.exitCode = 1;
  },
);
