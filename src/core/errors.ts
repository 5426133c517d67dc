/**
 * Every error salama throws is a {@link SalamaError} with a stable `code`, the original
 * `cause` when one exists, and `context` fields that say what was involved. Each code has
 * its own subclass, so callers can branch on `err.code` or on `instanceof`.
 */

/** Where the error came from and what was involved: ids, sizes, names, limits. */
export type ErrorContext = Readonly<Record<string, unknown>>;

/** Options accepted by every salama error constructor. */
export interface SalamaErrorOptions {
  /** The error that caused this one, kept as `err.cause`. */
  cause?: unknown;
  /** Fields that identify what was involved (`{ path, expected, received }`). */
  context?: Record<string, unknown>;
}

/** Base class of every salama error. */
export class SalamaError extends Error {
  /** The code every instance of this class carries; the base class marks an internal fault. */
  static readonly code: string = 'E_INTERNAL';
  /** Stable, documented code: branch on this, not on the message. */
  readonly code: ErrorCode;
  /** What was involved, for logs and for programmatic handling. */
  readonly context: ErrorContext;

  constructor(message: string, options: SalamaErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    const ctor = new.target as typeof SalamaError;
    this.name = ctor.name;
    this.code = ctor.code as ErrorCode;
    this.context = Object.freeze({ ...options.context });
  }

  /** True when `error` is a salama error, optionally with the given `code`. */
  static is<C extends ErrorCode>(error: unknown, code?: C): error is SalamaError & { code: C } {
    return error instanceof SalamaError && (code === undefined || error.code === code);
  }
}

/** An option passed to a constructor or method is missing, of the wrong type or out of range. */
export class InvalidOptionsError extends SalamaError {
  static override readonly code = 'E_INVALID_OPTIONS';
}
/** An argument is malformed: a negative or fractional length, an empty shape, a foreign handle. */
export class InvalidArgumentError extends SalamaError {
  static override readonly code = 'E_INVALID_ARGUMENT';
}
/** An element type (dtype) is unknown or unsupported by this runtime. */
export class InvalidTypeError extends SalamaError {
  static override readonly code = 'E_INVALID_TYPE';
}
/** A request is larger than the configured limit could ever satisfy. */
export class InvalidSizeError extends SalamaError {
  static override readonly code = 'E_INVALID_SIZE';
}
/** An inference input has the wrong dtype or shape for the model. */
export class InvalidInputError extends SalamaError {
  static override readonly code = 'E_INVALID_INPUT';
}
/** The component was closed; it accepts no more work. */
export class ClosedError extends SalamaError {
  static override readonly code = 'E_CLOSED';
}
/** A pooled buffer was released twice. */
export class DoubleReleaseError extends SalamaError {
  static override readonly code = 'E_DOUBLE_RELEASE';
}
/** A pooled buffer was used after it was released. */
export class UseAfterReleaseError extends SalamaError {
  static override readonly code = 'E_USE_AFTER_RELEASE';
}
/** A pool's byte budget is spent by buffers that are still leased. */
export class PoolExhaustedError extends SalamaError {
  static override readonly code = 'E_POOL_EXHAUSTED';
}
/** A bounded queue is full; the request was rejected without being queued. */
export class QueueFullError extends SalamaError {
  static override readonly code = 'E_QUEUE_FULL';
}
/** A request's deadline passed before it could run; it was not run. */
export class DeadlineExceededError extends SalamaError {
  static override readonly code = 'E_DEADLINE_EXCEEDED';
}
/** The caller aborted the operation through its AbortSignal. */
export class AbortedError extends SalamaError {
  static override readonly code = 'E_ABORTED';
}
/** An operation did not finish within its time limit. */
export class TimeoutError extends SalamaError {
  static override readonly code = 'E_TIMEOUT';
}
/** A backend (Redis, PostgreSQL, S3, an inference server) cannot be reached. */
export class BackendUnavailableError extends SalamaError {
  static override readonly code = 'E_BACKEND_UNAVAILABLE';
}
/** A backend was reached but failed the operation (a crashed worker, a server error). */
export class BackendFailedError extends SalamaError {
  static override readonly code = 'E_BACKEND_FAILED';
}
/** Stored data does not match its recorded hash or structure. */
export class IntegrityError extends SalamaError {
  static override readonly code = 'E_INTEGRITY';
}
/** A key or passphrase does not open the data it was given for. */
export class BadKeyError extends SalamaError {
  static override readonly code = 'E_BAD_KEY';
}
/** A lock is held by someone else. */
export class LockedError extends SalamaError {
  static override readonly code = 'E_LOCKED';
}
/** The named thing does not exist. */
export class NotFoundError extends SalamaError {
  static override readonly code = 'E_NOT_FOUND';
}
/** The operation conflicts with existing state (an existing version, an overlapping window). */
export class ConflictError extends SalamaError {
  static override readonly code = 'E_CONFLICT';
}

/** A maintenance window overlaps another on the same system; the message names the other. */
export class WindowConflictError extends SalamaError {
  static override readonly code = 'E_WINDOW_CONFLICT';
}

/**
 * Every error class by its code. Look a code up here to construct or to test with
 * `instanceof`; the keys are the complete list of codes salama throws.
 */
export const errors = {
  E_INTERNAL: SalamaError,
  E_INVALID_OPTIONS: InvalidOptionsError,
  E_INVALID_ARGUMENT: InvalidArgumentError,
  E_INVALID_TYPE: InvalidTypeError,
  E_INVALID_SIZE: InvalidSizeError,
  E_INVALID_INPUT: InvalidInputError,
  E_CLOSED: ClosedError,
  E_DOUBLE_RELEASE: DoubleReleaseError,
  E_USE_AFTER_RELEASE: UseAfterReleaseError,
  E_POOL_EXHAUSTED: PoolExhaustedError,
  E_QUEUE_FULL: QueueFullError,
  E_DEADLINE_EXCEEDED: DeadlineExceededError,
  E_ABORTED: AbortedError,
  E_TIMEOUT: TimeoutError,
  E_BACKEND_UNAVAILABLE: BackendUnavailableError,
  E_BACKEND_FAILED: BackendFailedError,
  E_INTEGRITY: IntegrityError,
  E_BAD_KEY: BadKeyError,
  E_LOCKED: LockedError,
  E_NOT_FOUND: NotFoundError,
  E_CONFLICT: ConflictError,
  E_WINDOW_CONFLICT: WindowConflictError,
} as const;

/** Every code a salama error can carry. */
export type ErrorCode = keyof typeof errors;

/** Renders a value for an error message: short, typed, never the whole of a large value. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  switch (typeof value) {
    case 'string':
      return value.length > 40 ? `string "${value.slice(0, 37)}..."` : `string "${value}"`;
    case 'number':
    case 'bigint':
    case 'boolean':
      return `${typeof value} ${String(value)}`;
    case 'function':
      return `function ${value.name || '(anonymous)'}`;
    case 'symbol':
      return value.toString();
    default:
      if (Array.isArray(value)) return `array of length ${value.length}`;
      if (ArrayBuffer.isView(value))
        return `${value.constructor.name} of ${value.byteLength} bytes`;
      return `object ${value.constructor?.name ?? 'Object'}`;
  }
}
