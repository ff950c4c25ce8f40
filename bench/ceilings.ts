// Ceilings that follow the machine through a run. A ceiling is the best throughput a suite measured (the
// copy kernel's GB/s, the best matmul GFLOP/s). On a shared 2-core machine the adapter's speed drifts: the
// same copy kernel measured 4.5-6.1 GB/s at the starts of runs an hour apart, and a ceiling taken once in a
// fast minute sank every later fraction. So each ceiling comes with a check, one fixed kernel re-timed in
// a fraction of a second: three times right after the suite that measured the best (their median is the
// reference), then once after every later suite. The ceiling is the best scaled to the run's typical speed:
// best · median(all checks) / reference. Scaling each suite by the checks around it instead was tried and
// let one quiet quarter-second (a copy check at 8.0 GB/s among 4.2-5.4) halve two suites' fractions.

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

export interface CeilingSummary {
  /** The best throughput of the suite that measured the ceiling. */
  best: number;
  /** What the check measured right after that suite (the median of three), then after every later suite. */
  checks: number[];
  /** The ceiling every row uses: best · median(checks) / checks[0]. */
  value: number;
  /** The suite that measured it (its index in the run). */
  suite: number;
}

interface Entry {
  best: number;
  suite: number;
  check: () => Promise<number>;
  /** Check values by the index of the suite they followed. */
  after: Map<number, number>;
}

export class CeilingTracker {
  private readonly entries = new Map<string, Entry>();

  /** Records ceiling `name` measured by suite `suite` and takes its reference check at once (three runs). */
  async register(name: string, best: number, suite: number, check: () => Promise<number>): Promise<void> {
    const entry: Entry = { best, suite, check, after: new Map() };
    this.entries.set(name, entry);
    entry.after.set(suite, median([await check(), await check(), await check()]));
  }

  /** Re-runs every registered check, except the one registered by this suite (it has just run it). */
  async checkAfter(suite: number): Promise<void> {
    for (const entry of this.entries.values()) if (!entry.after.has(suite)) entry.after.set(suite, await entry.check());
  }

  /** The ceiling for a row of suite `suite` (undefined before the suite that measures it). */
  valueFor(name: string, suite: number): number | undefined {
    const entry = this.entries.get(name);
    if (!entry || suite < entry.suite) return undefined;
    return (entry.best * median([...entry.after.values()])) / entry.after.get(entry.suite)!;
  }

  /** Every ceiling's best and checks, for the result file. */
  summary(): Record<string, CeilingSummary> {
    return Object.fromEntries(
      [...this.entries].map(([name, e]) => [
        name,
        { best: e.best, suite: e.suite, checks: [...e.after].sort((a, b) => a[0] - b[0]).map(([, v]) => v), value: this.valueFor(name, e.suite)! },
      ]),
    );
  }
}
