import { describe, expect, it } from 'vitest';
import { CeilingTracker } from '../bench/ceilings.ts';

/** A check that returns the given values in turn. */
const scripted = (values: number[]) => {
  let i = 0;
  return async () => values[i++];
};

describe('bench ceilings followed through a run', () => {
  it("scales a suite's best by the mean of the checks around each later suite, over the first check", async () => {
    const t = new CeilingTracker();
    // Registered by suite 1; checks after suites 1 (the reference), 2, 3 and 4.
    await t.register('copy GB/s', 5, 1, scripted([4, 6, 2, 3]));
    for (const suite of [2, 3, 4]) await t.checkAfter(suite);
    expect(t.valueFor('copy GB/s', 0)).toBeUndefined();
    expect(t.valueFor('copy GB/s', 1)).toBe(5);
    expect(t.valueFor('copy GB/s', 2)).toBeCloseTo((5 * (4 + 6)) / 2 / 4, 12);
    expect(t.valueFor('copy GB/s', 3)).toBeCloseTo((5 * (6 + 2)) / 2 / 4, 12);
    expect(t.valueFor('copy GB/s', 4)).toBeCloseTo((5 * (2 + 3)) / 2 / 4, 12);
    expect(t.valueFor('other', 2)).toBeUndefined();
    expect(t.summary()).toEqual({ 'copy GB/s': { best: 5, suite: 1, checks: [4, 6, 2, 3] } });
  });

  it("does not re-run a check after the suite that registered it, and each ceiling follows its own checks", async () => {
    const t = new CeilingTracker();
    await t.register('a', 2, 0, scripted([1, 2, 3]));
    await t.checkAfter(0);
    await t.register('b', 10, 1, scripted([5, 10]));
    await t.checkAfter(1);
    await t.checkAfter(2);
    expect(t.summary().a.checks).toEqual([1, 2, 3]);
    expect(t.valueFor('a', 2)).toBeCloseTo((2 * (2 + 3)) / 2 / 1, 12);
    expect(t.summary().b.checks).toEqual([5, 10]);
    expect(t.valueFor('b', 2)).toBeCloseTo((10 * (5 + 10)) / 2 / 5, 12);
  });
});
