/**
 * The structural subset of a pino logger that salama calls, so a pino (or bunyan-, or
 * console-shaped) logger can be passed as the `logger` option without salama depending on it.
 */

/** One log method, with pino's two call shapes: `(obj, msg)` and `(msg)`. */
export interface LogFn {
  (obj: object, msg?: string): void;
  (msg: string): void;
}

/** What a `logger` option must provide. pino's `Logger` satisfies it. */
export interface Logger {
  trace: LogFn;
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  /** When present, components log through `child({ component })`. */
  child?: (bindings: Record<string, unknown>) => Logger;
}

const noop: LogFn = () => {};

/** A logger that discards everything: the default for every component. */
export const silentLogger: Logger = Object.freeze({
  trace: noop,
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  child: () => silentLogger,
});

/** The logger a component writes to: the host's logger bound to the component, or silence. */
export function componentLogger(logger: Logger | undefined, component: string): Logger {
  if (!logger) return silentLogger;
  return logger.child ? logger.child({ component }) : logger;
}

/** Whether a value has the shape of a {@link Logger}; used by option schemas. */
export function isLogger(value: unknown): value is Logger {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return ['trace', 'debug', 'info', 'warn', 'error'].every((m) => typeof record[m] === 'function');
}
