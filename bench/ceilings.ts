// Ceilings that follow the machine through a run. A ceiling is the best throughput a suite measured (the
// copy kernel's GB/s, the best matmul GFLOP/s). On a shared 2-core machine the adapter's speed drifts
// over a run of minutes: the same copy kernel measured 4.5-6.1 GB/s at the starts of runs an hour apart,
// and a ceiling taken once at a fast start sank every later fraction. So each ceiling comes with a check,
// one fixed kernel re-timed in a second or two, which run.ts runs after every suite. A row's ceiling is
// the suite's best scaled by its checks: the mean of the checks just before and just after the row's
// suite, over the check taken right after the best was measured.

export interface CeilingSummary {
  /** The best throughput of the suite that measured the ceiling. */
  best: number;
  /** What the check measured right after that suite, then after every later suite (its unit). */
  checks: number[];
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

  /** Records ceiling `name` measured by suite `suite` and takes its first check at once. */
  async register(name: string, best: number, suite: number, check: () => Promise<number>): Promise<void> {
    const entry: Entry = { best, suite, check, after: new Map() };
    this.entries.set(name, entry);
    entry.after.set(suite, await check());
  }

  /** Re-runs every registered check, except the one registered by this suite (it has just run it). */
  async checkAfter(suite: number): Promise<void> {
    for (const entry of this.entries.values()) if (!entry.after.has(suite)) entry.after.set(suite, await entry.check());
  }

  /** The ceiling for a row of suite `suite`: the best, scaled by the checks around that suite. */
  valueFor(name: string, suite: number): number | undefined {
    const entry = this.entries.get(name);
    if (!entry || suite < entry.suite) return undefined;
    if (suite === entry.suite) return entry.best;
    const first = entry.after.get(entry.suite)!;
    const around = [entry.after.get(suite - 1), entry.after.get(suite)].filter((v): v is number => v !== undefined);
    if (!around.length) return entry.best;
    return (entry.best * around.reduce((a, b) => a + b, 0)) / around.length / first;
  }

  /** Every ceiling's best and checks, for the result file. */
  summary(): Record<string, CeilingSummary> {
    return Object.fromEntries(
      [...this.entries].map(([name, e]) => [name, { best: e.best, suite: e.suite, checks: [...e.after].sort((a, b) => a[0] - b[0]).map(([, v]) => v) }]),
    );
  }
}
