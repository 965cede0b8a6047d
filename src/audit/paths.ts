/** The first `depth` segments of a path: `secret/data/payments/db/primary` at 3 → `secret/data/payments`. */
export function pathPrefix(path: string, depth: number): string {
  let idx = -1;
  for (let i = 0; i < depth; i++) {
    idx = path.indexOf('/', idx + 1);
    if (idx < 0) return path;
  }
  return path.slice(0, idx);
}
