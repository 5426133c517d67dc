/**
 * The notifiers built into salama: one that writes a line per event (to the console by
 * default) and one that POSTs every event as JSON to an HTTP webhook (Slack-style relays,
 * PagerDuty bridges, an internal ops service). Any object with `notify(event)` is a notifier.
 */
import { z } from 'zod';
import { BackendFailedError, BackendUnavailableError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { parseOptions } from '../core/options.js';
import { errorJson, toJsonText } from './maintenance-json.js';
import type { MaintenanceEvent, Notifier } from './maintenance-types.js';

/** Options of {@link consoleNotifier}. */
export interface ConsoleNotifierOptions {
  /** Where each line goes. @default console.log */
  readonly log?: (line: string) => void;
}

/** A notifier writing one human-readable line per event. */
export function consoleNotifier(options: ConsoleNotifierOptions = {}): Notifier {
  const { log } = parseOptions(
    'consoleNotifier',
    z.strictObject({
      log: z.custom<(line: string) => void>((v) => typeof v === 'function').optional(),
    }),
    options,
  );
  const write = log ?? ((line: string) => console.log(line));
  return Object.freeze({
    name: 'console',
    notify: (event: MaintenanceEvent) => write(describeEvent(event)),
  });
}

/** One line saying what happened: `maintenance completed: "Nightly DB" (MAINT-1) ok, ...`. */
export function describeEvent(event: MaintenanceEvent): string {
  const { window } = event;
  const head = `maintenance ${event.type}: ${JSON.stringify(window.name)} (${window.id})`;
  switch (event.type) {
    case 'scheduled': {
      const every = window.recurrence
        ? `, every ${JSON.stringify(window.recurrence)}${window.timezone ? ` (${window.timezone})` : ''}`
        : '';
      const notify = window.notify.length > 0 ? `; notify ${window.notify.join(', ')}` : '';
      return `${head} from ${window.start.toISOString()} for ${window.durationMs} ms${every}; systems ${window.systems.join(', ')}${notify}`;
    }
    case 'starting':
      return `${head}; tasks ${window.tasks.join(', ') || '(none)'}; systems ${window.systems.join(', ')}`;
    case 'cancelled':
      return head;
    default: {
      const { report } = event;
      if (!report) return `${head}: ${event.type === 'failed' ? event.error?.message : ''}`;
      const failures = report.failed.map((f) => `${f.task}: ${f.error.message}`).join('; ');
      const check = report.statusCheck
        ? `, status check ${report.statusCheck.ok ? 'ok' : 'not ok'}`
        : '';
      return `${head} ${report.status}: ${report.completed.length} completed, ${report.failed.length} failed${failures ? ` (${failures})` : ''}${check}`;
    }
  }
}

const webhookSchema = z.strictObject({
  url: z.union([z.url({ protocol: /^https?$/ }), z.instanceof(URL)]),
  headers: z.record(z.string(), z.string()).default({}),
  timeoutMs: z.number().int().positive().default(5000),
});

/** Options of {@link webhookNotifier}. */
export interface WebhookNotifierOptions {
  /** An `http:` or `https:` URL. */
  readonly url: string | URL;
  /** Sent with every request (an `authorization` header, say). @default {} */
  readonly headers?: Readonly<Record<string, string>>;
  /** How long one request may take before it is abandoned, in milliseconds. @default 5000 */
  readonly timeoutMs?: number;
}

/**
 * A notifier POSTing each event as JSON (`{ type, at, window, report?, error? }`, dates as
 * ISO 8601) with Node's `fetch`. A network failure is `E_BACKEND_UNAVAILABLE`, an answer
 * other than 2xx `E_BACKEND_FAILED`; the scheduler logs either and carries on.
 */
export function webhookNotifier(options: WebhookNotifierOptions): Notifier {
  const { url, headers, timeoutMs } = parseOptions('webhookNotifier', webhookSchema, options);
  const target = String(url);
  return Object.freeze({
    name: `webhook ${target}`,
    async notify(event: MaintenanceEvent) {
      let response: Response;
      try {
        response = await fetch(target, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          body: toJsonText(event),
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (error) {
        throw new BackendUnavailableError(
          `Maintenance webhook ${target} could not be reached: ${errorJson(error).message}`,
          { cause: error, context: { url: target, event: event.type } },
        );
      }
      await response.body?.cancel();
      if (!response.ok)
        throw new BackendFailedError(
          `Maintenance webhook ${target} answered ${response.status} ${response.statusText}`,
          { context: { url: target, status: response.status, event: event.type } },
        );
    },
  });
}

/**
 * Tells every notifier about `event`, concurrently, and waits for all of them. A notifier
 * that throws or rejects is logged at `warn`; it never reaches the caller.
 */
export async function notifyAll(
  notifiers: readonly Notifier[],
  event: MaintenanceEvent,
  logger: Logger,
): Promise<void> {
  const outcomes = await Promise.allSettled(
    notifiers.map(async (notifier) => notifier.notify(event)),
  );
  outcomes.forEach((outcome, index) => {
    if (outcome.status === 'fulfilled') return;
    const notifier = notifiers[index]?.name ?? `notifier #${index}`;
    logger.warn(
      { err: outcome.reason, notifier, event: event.type, window: event.window.id },
      `maintenance notifier ${notifier} failed on ${event.type}: ${errorJson(outcome.reason).message}`,
    );
  });
}
