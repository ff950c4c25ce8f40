import { describe, expect, it } from 'vitest';
import { CeilingTracker } from '../bench/ceilings.ts';

/** A check that returns the given values in turn. */
const scripted = (values: number[]) => {
  let i = 0;
  return async () => values[i++];
};

describe('bench ceilings scaled to the run', () => {
  it("scales the suite's best by the median of all checks over the reference (the median of three)", async () => {
    const t = new CeilingTracker();
    // Registered by suite 1: reference median(4, 9, 5) = 5; later checks 6, 2, 8 and an outlier 30.
    await t.register('copy GB/s', 10, 1, scripted([4, 9, 5, 6, 2, 8, 30]));
    for (const suite of [2, 3, 4, 5]) await t.checkAfter(suite);
    expect(t.valueFor('copy GB/s', 0)).toBeUndefined();
    expect(t.valueFor('other', 2)).toBeUndefined();
    // median(5, 6, 2, 8, 30) = 6: every suite from the registering one on gets 10 · 6 / 5.
    for (const suite of [1, 2, 5]) expect(t.valueFor('copy GB/s', suite)).toBeCloseTo((10 * 6) / 5, 12);
    expect(t.summary()).toEqual({ 'copy GB/s': { best: 10, suite: 1, checks: [5, 6, 2, 8, 30], value: 12 } });
  });

  it('does not re-run a check after the suite that registered it, and each ceiling follows its own checks', async () => {
    const t = new CeilingTracker();
    await t.register('a', 2, 0, scripted([1, 1, 1, 3, 5]));
    await t.checkAfter(0);
    await t.register('b', 10, 1, scripted([5, 5, 5, 10]));
    await t.checkAfter(1);
    await t.checkAfter(2);
    expect(t.summary().a.checks).toEqual([1, 3, 5]);
    expect(t.summary().b.checks).toEqual([5, 10]);
    expect(t.valueFor('a', 2)).toBeCloseTo((2 * 3) / 1, 12);
    expect(t.valueFor('b', 2)).toBeCloseTo((10 * 7.5) / 5, 12);
  });

  it('anchored: the largest multiple of the check a best kernel ran at, alternating with it, times the median check', async () => {
    const t = new CeilingTracker();
    // The suite's best (9) came from a fast stretch; timed against the check its kernels ran 1.1x and 1.25x.
    await t.register('matmul', 9, 1, scripted([4, 6, 5, 3, 5]), [async () => 1.1, async () => 1.25]);
    await t.checkAfter(2);
    await t.checkAfter(3);
    // Checks: reference median(4, 6, 5) = 5, then 3 and 5: median(5, 3, 5) = 5.
    expect(t.valueFor('matmul', 3)).toBeCloseTo(1.25 * 5, 12);
    expect(t.summary().matmul).toEqual({ best: 9, suite: 1, checks: [5, 3, 5], multiples: [1.1, 1.25], value: 6.25 });
  });

  it("anchored rows: a row's multiple of the check over the best kernel's largest multiple, from later suites only", async () => {
    const t = new CeilingTracker();
    let made = 0;
    const checkWork = () => ((made += 1), { driver: { call() {}, flush() {}, settle: async () => {} }, work: 8, dispose() {} });
    await t.register('copy', 9, 1, scripted([4, 6, 5]), [async () => 1.1, async () => 1.25], checkWork);
    await t.register('plain', 9, 1, scripted([4, 6, 5]), [], checkWork);
    // A row that ran at 0.9x the check's speed, pair by pair, is at 0.9 / 1.25 of the ceiling.
    expect(t.fractionOf('copy', 0.9)).toBeCloseTo(0.72, 12);
    expect(t.fractionOf('plain', 0.9)).toBeUndefined();
    expect(t.fractionOf('other', 0.9)).toBeUndefined();
    // The registering suite's own rows are the ceiling's candidates, not anchored to its check.
    expect(t.checkWork('copy', 1)).toBeUndefined();
    expect(t.checkWork('plain', 2)).toBeUndefined();
    expect(made).toBe(0);
    expect(t.checkWork('copy', 2)?.work).toBe(8);
    expect(made).toBe(1);
  });
});
