/**
 * The checks every {@link ModelRegistry} argument passes before anything is read or written:
 * model and alias names, version references, artifacts, metrics, tags, metadata and the
 * options objects. A failure is `E_INVALID_ARGUMENT` saying which argument, what was
 * expected and what came instead; nothing has been stored at that point.
 */
import { describeValue, InvalidArgumentError } from '../core/errors.js';
import type { AliasOptions, RegisterOptions } from './model-registry-options.js';

/** Model names: a letter or digit, then letters, digits, `.`, `_` or `-`; 1–128 characters. */
export const MODEL_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** Alias names: a letter, then letters, digits, `_` or `-`; 1–64 characters. */
export const ALIAS_NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
/** What MLflow reserves for version references, so no alias may take it. */
export const RESERVED_ALIAS = /^(latest|v\d+)$/i;
const MAX_KEY_LENGTH = 256;

/** A version reference, parsed: a number, `'latest'` or an alias. */
export type ParsedRef =
  | { readonly kind: 'version'; readonly version: number }
  | { readonly kind: 'latest' }
  | { readonly kind: 'alias'; readonly alias: string };

/** Throws `E_INVALID_ARGUMENT`: `<call>: <what>: expected <expected>, received <value>`. */
export function invalidArgument(
  call: string,
  what: string,
  expected: string,
  value: unknown,
): never {
  const received = describeValue(value);
  throw new InvalidArgumentError(`${call}: ${what}: expected ${expected}, received ${received}`, {
    context: { argument: what, expected, received },
  });
}

/** Checks a model name against {@link MODEL_NAME_PATTERN}. */
export function checkModelName(call: string, name: unknown): asserts name is string {
  if (typeof name !== 'string' || !MODEL_NAME_PATTERN.test(name))
    invalidArgument(
      call,
      'model name',
      'a string of 1–128 letters, digits, ".", "_" or "-" starting with a letter or digit',
      name,
    );
}

/** Checks an alias name against {@link ALIAS_NAME_PATTERN} and refuses reserved names. */
export function checkAliasName(call: string, alias: unknown): asserts alias is string {
  if (typeof alias !== 'string' || !ALIAS_NAME_PATTERN.test(alias))
    invalidArgument(
      call,
      'alias',
      'a string of 1–64 letters, digits, "_" or "-" starting with a letter',
      alias,
    );
  if (RESERVED_ALIAS.test(alias))
    invalidArgument(
      call,
      'alias',
      'a name other than "latest" and "v<number>" (reserved for version references)',
      alias,
    );
}

/** Checks a version number: a safe integer >= 1. */
export function checkVersionNumber(
  call: string,
  version: unknown,
  what = 'version',
): asserts version is number {
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1)
    invalidArgument(call, what, 'an integer >= 1', version);
}

/** `3` and `'v3'` name version 3, `'latest'` the highest version, any other string an alias. */
export function parseRef(call: string, ref: unknown): ParsedRef {
  if (typeof ref === 'number') {
    checkVersionNumber(call, ref);
    return { kind: 'version', version: ref };
  }
  if (ref === 'latest') return { kind: 'latest' };
  if (typeof ref === 'string' && /^v\d+$/.test(ref)) {
    const version = Number(ref.slice(1));
    checkVersionNumber(call, version);
    return { kind: 'version', version };
  }
  if (typeof ref !== 'string' || !ALIAS_NAME_PATTERN.test(ref))
    invalidArgument(call, 'ref', 'a version number, "latest", "v<number>" or an alias name', ref);
  return { kind: 'alias', alias: ref };
}

/** Checks an artifact: a non-empty `Uint8Array` (a `Buffer` is one). */
export function checkArtifactBytes(
  call: string,
  artifact: unknown,
): asserts artifact is Uint8Array {
  if (!(artifact instanceof Uint8Array) || artifact.byteLength === 0)
    invalidArgument(call, 'artifact', 'a non-empty Uint8Array', artifact);
}

const isPlainObject = (value: unknown): value is Record<string, unknown> => {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
};

function checkRecord<T>(
  call: string,
  what: string,
  record: unknown,
  valueExpected: string,
  isValue: (value: unknown) => value is T,
): Record<string, T> {
  if (!isPlainObject(record))
    invalidArgument(call, what, `a plain object of name → ${valueExpected}`, record);
  const checked: [string, T][] = [];
  for (const [key, value] of Object.entries(record)) {
    if (key.length === 0 || key.length > MAX_KEY_LENGTH)
      invalidArgument(call, `${what} name`, `1–${MAX_KEY_LENGTH} characters`, key);
    if (!isValue(value)) invalidArgument(call, `${what}.${key}`, valueExpected, value);
    checked.push([key, value]);
  }
  // fromEntries defines own properties, so a key such as "__proto__" is kept as data.
  return Object.fromEntries(checked);
}

const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isString = (v: unknown): v is string => typeof v === 'string';

/** Checks metrics: a plain object of finite numbers; returns a copy. */
export function checkMetrics(call: string, metrics: unknown): Record<string, number> {
  return checkRecord(call, 'metrics', metrics, 'a finite number', isFiniteNumber);
}

/** Checks tags: a plain object of strings; returns a copy. */
export function checkTags(call: string, tags: unknown): Record<string, string> {
  return checkRecord(call, 'tags', tags, 'a string', isString);
}

/** Returns the metadata as it will read back: a JSON round trip of a plain object. */
export function checkMetadata(call: string, metadata: unknown): Record<string, unknown> {
  if (!isPlainObject(metadata))
    invalidArgument(call, 'metadata', 'a plain object of JSON values', metadata);
  try {
    return JSON.parse(JSON.stringify(metadata)) as Record<string, unknown>;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return invalidArgument(call, 'metadata', `a JSON-serialisable object (${reason})`, metadata);
  }
}

function checkKeys(call: string, options: unknown, known: readonly string[]) {
  if (options === undefined) return {};
  if (!isPlainObject(options)) invalidArgument(call, 'options', 'a plain object', options);
  for (const key of Object.keys(options))
    if (!known.includes(key))
      invalidArgument(
        call,
        `options.${key}`,
        `no such option (valid: ${known.join(', ')})`,
        options[key],
      );
  return options;
}

function optionalString(call: string, what: string, value: unknown, nonEmpty: boolean) {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || (nonEmpty && value.length === 0))
    invalidArgument(call, what, nonEmpty ? 'a non-empty string' : 'a string', value);
  return value;
}

/** {@link RegisterOptions} checked, with metadata, metrics and tags defaulted to `{}`. */
export interface CheckedRegisterOptions {
  readonly format: string | undefined;
  readonly description: string | undefined;
  readonly metadata: Record<string, unknown>;
  readonly metrics: Record<string, number>;
  readonly tags: Record<string, string>;
  readonly actor: string | undefined;
}

const REGISTER_KEYS = ['format', 'description', 'metadata', 'metrics', 'tags', 'actor'] as const;

/** Checks {@link RegisterOptions}: known keys only, each of its type. */
export function checkRegisterOptions(call: string, input: unknown): CheckedRegisterOptions {
  const options: RegisterOptions = checkKeys(call, input, REGISTER_KEYS);
  return {
    format: optionalString(call, 'options.format', options.format, true),
    description: optionalString(call, 'options.description', options.description, false),
    metadata: options.metadata === undefined ? {} : checkMetadata(call, options.metadata),
    metrics: options.metrics === undefined ? {} : checkMetrics(call, options.metrics),
    tags: options.tags === undefined ? {} : checkTags(call, options.tags),
    actor: optionalString(call, 'options.actor', options.actor, true),
  };
}

const ALIAS_KEYS = ['actor', 'reason', 'expected'] as const;

/** Checks {@link AliasOptions}: known keys only, `expected` a version number or `null`. */
export function checkAliasOptions(call: string, input: unknown): AliasOptions {
  const options: AliasOptions = checkKeys(call, input, ALIAS_KEYS);
  const { expected } = options;
  if (expected !== undefined && expected !== null)
    checkVersionNumber(call, expected, 'options.expected (null: the alias must not exist)');
  return {
    actor: optionalString(call, 'options.actor', options.actor, true),
    reason: optionalString(call, 'options.reason', options.reason, false),
    expected,
  };
}
