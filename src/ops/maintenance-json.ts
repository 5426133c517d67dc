/**
 * Task results and events are whatever the caller's code returns, so they are written as
 * JSON that never throws: errors become `{ code?, message }`, bigints strings, a reference
 * back to an enclosing object `"[Circular]"`; functions and symbols disappear (as
 * `JSON.stringify` does). A value that still cannot be written (a throwing getter) becomes
 * `{ "unserializable": message }`.
 */

/** `value` as JSON text; never throws. */
export function toJsonText(value: unknown): string {
  // The objects on the path from the root to the value being written (MDN's cycle check).
  const ancestors: unknown[] = [];
  try {
    return (
      JSON.stringify(value, function (this: unknown, _key, raw: unknown) {
        if (typeof raw === 'bigint') return raw.toString();
        if (typeof raw !== 'object' || raw === null) return raw;
        while (ancestors.length > 0 && ancestors.at(-1) !== this) ancestors.pop();
        if (ancestors.includes(raw)) return '[Circular]';
        const out = raw instanceof Error ? errorJson(raw) : raw;
        ancestors.push(out);
        return out;
      }) ?? 'null'
    );
  } catch (error) {
    return JSON.stringify({ unserializable: errorJson(error).message });
  }
}

/** An error as the reports carry it: its `code` when it has one, and its message. */
export function errorJson(error: unknown): { code?: string; message: string } {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' ? { code, message: error.message } : { message: error.message };
  }
  return { message: String(error) };
}
