// Child of bench/run.mjs: generate a simulated audit log of about `target` lines.
import { generate } from '../dist/simulate/generate.js';

const [out, targetText] = process.argv.slice(2);
const target = Number(targetText);
// About 930 lines per identity-day with the default population mix (measured).
const identities = 150;
const days = Math.max(2, Math.ceil(target / (identities * 800)));
const t = Date.now();
const r = await generate({ out, seed: 42, identities, days, start: Date.parse('2026-01-05T00:00:00Z') });
console.log(JSON.stringify({ lines: r.lines, bytes: r.bytes, ms: Date.now() - t }));
