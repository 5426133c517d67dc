export { type Clock, ManualClock, sleep, systemClock, type TimerHandle } from './clock.js';
export { parseDuration, positiveDuration } from './duration.js';
export {
  AbortedError,
  BackendFailedError,
  BackendUnavailableError,
  BadKeyError,
  ClosedError,
  ConflictError,
  DeadlineExceededError,
  DoubleReleaseError,
  type ErrorCode,
  type ErrorContext,
  errors,
  IntegrityError,
  InvalidArgumentError,
  InvalidInputError,
  InvalidOptionsError,
  InvalidSizeError,
  InvalidTypeError,
  LockedError,
  NotFoundError,
  PoolExhaustedError,
  QueueFullError,
  SalamaError,
  type SalamaErrorOptions,
  TimeoutError,
  UseAfterReleaseError,
  WindowConflictError,
} from './errors.js';
export { type Closable, Lifecycle } from './lifecycle.js';
export { isLogger, type LogFn, type Logger, silentLogger } from './logger.js';
export {
  declareInstruments,
  type InstrumentSpec,
  type Instruments,
  type ObservedSpec,
  observeSnapshot,
  salamaMeter,
} from './metrics.js';
export { type OptionIssue, parseOptions } from './options.js';
export { VERSION } from './version.js';
