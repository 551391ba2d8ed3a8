// Host log lines an app can cause (egress denials, crash restarts, dropped
// output): at most a few per window, then one line saying how many more were
// suppressed, so a hostile app cannot flood the host's log.

export const LOG_BURST = 10; // lines per window
export const LOG_WINDOW_MS = 10000;

export class RateLimitedLog {
  private sent = 0;
  private suppressed = 0;
  private windowEnd = 0;
  private timer: NodeJS.Timeout | null = null;
  /** Lines suppressed since the start. */
  suppressedTotal = 0;

  constructor(
    private readonly write: (line: string) => void,
    private readonly burst = LOG_BURST,
    private readonly windowMs = LOG_WINDOW_MS,
  ) {}

  /** Log one line (no trailing newline), unless this window's burst is spent. */
  line(text: string): void {
    const now = Date.now();
    if (now >= this.windowEnd) {
      this.windowEnd = now + this.windowMs;
      this.sent = 0;
    }
    if (this.sent < this.burst) {
      this.sent++;
      this.write(text);
      return;
    }
    this.suppressed++;
    this.suppressedTotal++;
    // Say so once the window ends, even if no line comes after it.
    this.timer ??= setTimeout(() => this.flush(), Math.max(0, this.windowEnd - now)).unref();
  }

  /** Report what was suppressed (at a window's end, and when the owner stops). */
  flush(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.suppressed === 0) return;
    this.write(`${this.suppressed} more such line${this.suppressed === 1 ? '' : 's'} suppressed in ${this.windowMs / 1000} s`);
    this.suppressed = 0;
  }
}
