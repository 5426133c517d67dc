import {
  type Attributes,
  type BatchObservableResult,
  type Counter,
  type Histogram,
  type Meter,
  type MeterProvider,
  metrics,
  type Observable,
  type UpDownCounter,
} from '@opentelemetry/api';
import { VERSION } from './version.js';

/**
 * Metrics go through `@opentelemetry/api` under the meter `salama`: they cost nothing until the
 * host registers a MeterProvider. Names follow `salama.<module>.<what>` with UCUM units.
 */

/** The meter salama records on: from `meterProvider` when given, else the global provider. */
export function salamaMeter(meterProvider?: MeterProvider): Meter {
  return (meterProvider ?? metrics.getMeterProvider()).getMeter('salama', VERSION);
}

/** A synchronous instrument a component records on its hot path. */
export interface InstrumentSpec {
  readonly kind: 'counter' | 'upDownCounter' | 'histogram';
  /** `salama.<module>.<what>`. */
  readonly name: string;
  readonly description: string;
  /** UCUM unit: `ms`, `By`, `{request}`. */
  readonly unit: string;
}

type InstrumentOf<S extends InstrumentSpec> = S['kind'] extends 'counter'
  ? Counter
  : S['kind'] extends 'upDownCounter'
    ? UpDownCounter
    : Histogram;

/** The instruments of {@link declareInstruments}, keyed like its specs. */
export type Instruments<S extends Record<string, InstrumentSpec>> = {
  readonly [K in keyof S]: InstrumentOf<S[K]>;
};

/**
 * Creates a component's synchronous instruments from one table, so every metric it records is
 * declared, named and documented in one place.
 */
export function declareInstruments<const S extends Record<string, InstrumentSpec>>(
  meter: Meter,
  specs: S,
): Instruments<S> {
  const out: Record<string, Counter | UpDownCounter | Histogram> = {};
  for (const [key, spec] of Object.entries(specs)) {
    const options = { description: spec.description, unit: spec.unit };
    out[key] =
      spec.kind === 'counter'
        ? meter.createCounter(spec.name, options)
        : spec.kind === 'upDownCounter'
          ? meter.createUpDownCounter(spec.name, options)
          : meter.createHistogram(spec.name, options);
  }
  return Object.freeze(out) as Instruments<S>;
}

/** An asynchronous instrument whose value is read from a component's `stats()` at collection. */
export interface ObservedSpec {
  /** `counter` for totals that only grow, `gauge` for levels. */
  readonly kind: 'counter' | 'gauge';
  readonly name: string;
  readonly description: string;
  readonly unit: string;
}

/**
 * Publishes numbers from a snapshot function as observable instruments: nothing is recorded on
 * the hot path, the snapshot is read once per collection. Returns a function that stops it
 * (call it from `close()`).
 */
export function observeSnapshot<S extends Record<string, ObservedSpec>>(
  meter: Meter,
  specs: S,
  snapshot: () => { readonly [K in keyof S]: number },
  attributes: Attributes = {},
): () => void {
  const observables = new Map<keyof S, Observable>();
  for (const [key, spec] of Object.entries(specs) as [keyof S, ObservedSpec][]) {
    const options = { description: spec.description, unit: spec.unit };
    observables.set(
      key,
      spec.kind === 'counter'
        ? meter.createObservableCounter(spec.name, options)
        : meter.createObservableGauge(spec.name, options),
    );
  }
  const callback = (result: BatchObservableResult) => {
    const values = snapshot();
    for (const [key, observable] of observables)
      result.observe(observable, values[key], attributes);
  };
  const list = [...observables.values()];
  meter.addBatchObservableCallback(callback, list);
  return () => meter.removeBatchObservableCallback(callback, list);
}
