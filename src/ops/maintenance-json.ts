/**
 * Task results and events are whatever the caller's code returns, so they are written as
 * JSON that never throws: errors become `{ name, code, message }`, bigints strings, repeated
 * references `"[Circular]"`, functions and symbols disappear (as `JSON.stringify` does).
 */

/** `value` as JSON text; never throws. */
export function toJsonText(value: unknown): string {
  const seen = new WeakSet<object>();
  return (
    JSON.stringify(value, function (this: unknown, _key, raw: unknown) {
      if (typeof raw === 'bigint') return raw.toString();
      if (raw instanceof Error) return errorJson(raw);
      if (typeof raw === 'object' && raw !== null) {
        if (seen.has(raw)) return '[Circular]';
        seen.add(raw);
      }
      return raw;
    }) ?? 'null'
  );
}

/** An error as the reports carry it: its `code` when it has one, and its message. */
export function errorJson(error: unknown): { code?: string; message: string } {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' ? { code, message: error.message } : { message: error.message };
  }
  return { message: String(error) };
}
