/**
 * An estimate of the bytes a live value holds, for the memory tier's byte bound when no other
 * tier serialised the value. Strings count two bytes per code unit, binary data its length,
 * numbers eight; objects and arrays add their members. Shared and cyclic references count once.
 */
export function estimateSize(value: unknown): number {
  return walk(value, new Set());
}

function walk(value: unknown, seen: Set<object>): number {
  switch (typeof value) {
    case 'string':
      return 2 * value.length;
    case 'number':
    case 'bigint':
      return 8;
    case 'boolean':
      return 4;
    case 'object':
      break;
    default:
      return 0;
  }
  if (value === null || seen.has(value)) return 0;
  seen.add(value);
  if (ArrayBuffer.isView(value)) return value.byteLength;
  if (value instanceof ArrayBuffer) return value.byteLength;
  let size = 16;
  if (value instanceof Map) {
    for (const [k, v] of value) size += walk(k, seen) + walk(v, seen);
  } else if (value instanceof Set) {
    for (const v of value) size += walk(v, seen);
  } else if (Array.isArray(value)) {
    for (const v of value) size += 8 + walk(v, seen);
  } else {
    for (const key of Object.keys(value)) {
      size += 2 * key.length + walk((value as Record<string, unknown>)[key], seen);
    }
  }
  return size;
}
