// Waiting in tests: sleep, and polling a condition until it holds or time runs out.

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface WaitDefaults {
  /** How long to poll before failing (a call may pass its own). */
  timeoutMs?: number;
  /** The pause between two polls. */
  everyMs?: number;
  /** Treat an exception from the condition as "not yet" (the last one is named in the timeout error). */
  retryErrors?: boolean;
}

export type WaitFor = <T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs?: number) => Promise<T>;

/**
 * A waitFor with these defaults: it polls fn until it returns something other than undefined or
 * false and resolves to that, or throws "timed out ... waiting for WHAT" after timeoutMs.
 */
export function waiter({ timeoutMs: defaultTimeoutMs = 8000, everyMs = 25, retryErrors = false }: WaitDefaults = {}): WaitFor {
  return async <T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = defaultTimeoutMs): Promise<T> => {
    const until = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
      try {
        const v = await fn();
        if (v !== undefined && v !== false) return v;
      } catch (err) {
        if (!retryErrors) throw err;
        last = err;
      }
      if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
      await sleep(everyMs);
    }
  };
}

/** Polls every 25 ms for up to 8 s (see waiter). */
export const waitFor: WaitFor = waiter();
