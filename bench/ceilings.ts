// Ceilings that follow the machine through a run. A ceiling is the best throughput a suite measured (the
// copy kernel's GB/s, the best matmul GFLOP/s). On a shared 2-core machine the adapter's speed drifts and
// flips between two modes about 2x apart (a 1024³ matmul's runs in one row: 231-240 ms and 472-490 ms):
// the same copy kernel measured 4.5-6.1 GB/s at the starts of runs an hour apart, and a ceiling taken once
// in a fast minute sank every later fraction. So each ceiling comes with a check, one fixed kernel re-timed
// in a fraction of a second: three times right after the suite that measured the best (their median is
// the reference), then once after every later suite.
// - Anchored (what the copy and matmul suites do): the suite also times its best kernels alternating with
//   the check, which gives their speed as a multiple of the check's, free of the mode they ran in; the
//   ceiling is the largest multiple times the median of all checks. (Scaling the best by median(checks) /
//   reference was not enough: the 1024³ matmul's row caught a fast stretch, at 6.11 GFLOP/s, while the
//   three checks after it measured 4.37, 4.52 and 6.11, and every conv fraction of that run sank 25%.)
// - Otherwise: best · median(all checks) / reference.
// Scaling each suite by the checks around it instead was tried and let one quiet quarter-second (a copy
// check at 8.0 GB/s among 4.2-5.4) halve two suites' fractions.
// Rows anchored too: a later suite times each row with the check's kernel alternating with it (\`checkWork\`),
// which gives the row's speed as a multiple of the check's, run by run; over the best kernel's multiple
// that is the row's fraction of the ceiling, whichever mode the machine was in while the row ran
// (\`fractionOf\`). A row with a 2x-bimodal spread (stem 3x3 s2 gradient: runs 3.97-8.65 ms) otherwise
// took its fraction from whichever mode its median fell in.
import type { WorkDriver } from './timing.ts';

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
  /** The best kernels' speeds as multiples of the check's, each timed alternating with it (anchored ceilings). */
  multiples?: number[];
  /** The ceiling every row uses: max(multiples) · median(checks), or best · median(checks) / checks[0]. */
  value: number;
  /** The suite that measured it (its index in the run). */
  suite: number;
}

/** The check's kernel as a driver, for timing alternating with a row: \`work\` per call in the ceiling's unit. */
export interface CheckWork {
  driver: WorkDriver;
  work: number;
  dispose(): void;
}

interface Entry {
  best: number;
  suite: number;
  check: () => Promise<number>;
  checkWork?: () => CheckWork;
  multiples?: number[];
  /** Check values by the index of the suite they followed. */
  after: Map<number, number>;
}

export class CeilingTracker {
  private readonly entries = new Map<string, Entry>();

  /**
   * Records ceiling `name` measured by suite `suite` and takes its reference check at once (three runs).
   * `anchors`: each times one of the suite's best kernels alternating with the check and returns its speed
   * as a multiple of the check's. \`checkWork\`: the check's kernel, for rows of later suites to time with theirs.
   */
  async register(
    name: string, best: number, suite: number, check: () => Promise<number>, anchors: (() => Promise<number>)[] = [], checkWork?: () => CheckWork,
  ): Promise<void> {
    const entry: Entry = { best, suite, check, checkWork, after: new Map() };
    this.entries.set(name, entry);
    entry.after.set(suite, median([await check(), await check(), await check()]));
    if (anchors.length) {
      entry.multiples = [];
      for (const anchor of anchors) entry.multiples.push(await anchor());
    }
  }

  /** Re-runs every registered check, except the one registered by this suite (it has just run it). */
  async checkAfter(suite: number): Promise<void> {
    for (const entry of this.entries.values()) if (!entry.after.has(suite)) entry.after.set(suite, await entry.check());
  }

  /** The ceiling for a row of suite `suite` (undefined before the suite that measures it). */
  valueFor(name: string, suite: number): number | undefined {
    const entry = this.entries.get(name);
    if (!entry || suite < entry.suite) return undefined;
    const typical = median([...entry.after.values()]);
    if (entry.multiples) return Math.max(...entry.multiples) * typical;
    return (entry.best * typical) / entry.after.get(entry.suite)!;
  }

  /** The check's kernel of an anchored ceiling, for a row of a later suite to time alternating with it. */
  checkWork(name: string, suite: number): CheckWork | undefined {
    const entry = this.entries.get(name);
    return entry?.multiples && entry.checkWork && suite > entry.suite ? entry.checkWork() : undefined;
  }

  /**
   * A row's fraction of anchored ceiling \`name\` from its speed as a multiple of the check's (timed alternating
   * with it): over the largest multiple a best kernel ran at. Undefined for a ceiling that is not anchored.
   */
  fractionOf(name: string, multipleOfCheck: number): number | undefined {
    const entry = this.entries.get(name);
    return entry?.multiples ? multipleOfCheck / Math.max(...entry.multiples) : undefined;
  }

  /** Every ceiling's best and checks, for the result file. */
  summary(): Record<string, CeilingSummary> {
    return Object.fromEntries(
      [...this.entries].map(([name, e]) => [
        name,
        {
          best: e.best, suite: e.suite, checks: [...e.after].sort((a, b) => a[0] - b[0]).map(([, v]) => v),
          ...(e.multiples ? { multiples: e.multiples } : {}), value: this.valueFor(name, e.suite)!,
        },
      ]),
    );
  }
}
