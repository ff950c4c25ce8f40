import { afterEach, describe, expect, it, vi } from 'vitest';
import { fromArray, matmul } from '../engine/index.ts';
import { isPoliteDawnPolling, plainDawnPolling, politeDawnPolling } from '../engine/device/polling.ts';

describe("Dawn's polling loop", () => {
  // Installed at init on a software adapter; a test that installs it itself takes it away again.
  let installedHere = false;
  const install = () => {
    installedHere = !isPoliteDawnPolling();
    politeDawnPolling();
  };
  afterEach(() => {
    vi.restoreAllMocks();
    if (installedHere) plainDawnPolling();
  });

  it('a native callback re-queued back-to-back moves to setTimeout after the first millisecond; others never do', async () => {
    install();
    const timeouts = vi.spyOn(globalThis, 'setTimeout');
    // A bound function prints as native code, like the callback Dawn's binding re-queues.
    const chain = (native: boolean, until: number) =>
      new Promise<number>((resolve) => {
        let polls = 0;
        const start = performance.now();
        const tick = () => {
          polls++;
          if (performance.now() - start >= until) resolve(polls);
          else setImmediate(native ? poll : tick);
        };
        const poll = tick.bind(null);
        setImmediate(native ? poll : tick);
      });
    await chain(false, 5);
    expect(timeouts).not.toHaveBeenCalled();
    await new Promise((r) => setTimeout(r, 10)); // a gap: the next chain is a new wait
    timeouts.mockClear();
    const polls = await chain(true, 5);
    expect(polls).toBeGreaterThan(1);
    expect(timeouts).toHaveBeenCalled();
  });

  it('GPU results still arrive while polls are spaced out', async () => {
    install();
    const n = 96;
    const a = fromArray(Float32Array.from({ length: n * n }, (_, i) => (i % 7) - 3), [n, n]);
    const c = matmul(a, a);
    const got = await c.toArray();
    const want = (i: number, j: number) => {
      let s = 0;
      for (let k = 0; k < n; k++) s += (((i * n + k) % 7) - 3) * (((k * n + j) % 7) - 3);
      return s;
    };
    for (const [i, j] of [[0, 0], [5, 17], [95, 95]]) expect(got[i * n + j]).toBe(want(i, j));
    a.dispose();
    c.dispose();
  });
});
