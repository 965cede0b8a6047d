/**
 * A bounded memo for pure string functions on the hot path (network keys of addresses, token
 * references of HMACs): the same few thousand values repeat millions of times. When full it is
 * simply cleared — cheaper than LRU bookkeeping, and correct because the function is pure.
 */
export function memoize<T>(fn: (key: string) => T, max = 10_000): (key: string) => T {
  const cache = new Map<string, T>();
  return (key: string): T => {
    const hit = cache.get(key);
    if (hit !== undefined || cache.has(key)) return hit as T;
    const value = fn(key);
    if (cache.size >= max) cache.clear();
    cache.set(key, value);
    return value;
  };
}
