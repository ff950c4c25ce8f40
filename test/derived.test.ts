// Storage versions and the derived-result cache (engine/derived.ts): what writes a storage moves its
// version, results are kept from the second call at one version, and convs that use the cache (pointwise
// transposed weights, Winograd's U) never run on stale weights.
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import {
  add, allocate, backward, clearDerivedCache, conv2d, derived, derivedBytes, uncached, fromArray, memory, runtime, setDerivedCache, sum, sync, tidy, type Tensor,
} from '../engine/index.ts';
import { SGD } from '../engine/optim/index.ts';
import { setWinogradConv } from '../engine/ops/conv-winograd.ts';
import { seededValues } from '../engine/testing/index.ts';

afterEach(() => {
  setDerivedCache(true);
  clearDerivedCache();
});

describe('storage versions', () => {
  it('move on every recorded write: a kernel binding it writable, a queue write, a copy; not on reads', async () => {
    const a = fromArray([1, 2, 3, 4]);
    const b = fromArray([5, 6, 7, 8]);
    const [va, vb] = [a.storage.version, b.storage.version];
    const c = add(a, b);
    expect(a.storage.version).toBe(va);
    expect(b.storage.version).toBe(vb);
    expect(c.storage.version).toBe(1);
    runtime().queue.write(a.storage, 0, Float32Array.of(9));
    expect(a.storage.version).toBe(va + 1);
    runtime().queue.copy(b.storage, 0, a.storage, 4, 4);
    expect(a.storage.version).toBe(va + 2);
    expect(b.storage.version).toBe(vb);
    expect(Array.from(await a.toArray())).toEqual([9, 5, 3, 4]);
    for (const t of [a, b, c]) t.dispose();
  });
});

describe('derived results', () => {
  /** A derivation that counts its runs: source + 1, as a new tensor. */
  function counted() {
    let runs = 0;
    const one = fromArray([1, 1, 1, 1]);
    return { make: (s: Tensor) => () => (runs++, add(s, one)), runs: () => runs, dispose: () => one.dispose() };
  }

  it('are kept from the second call at a version, shared after that, and dropped once the source is written', async () => {
    const src = fromArray([1, 2, 3, 4]);
    const d = counted();
    const first = derived(src, 'plus1', d.make(src));
    expect(derivedBytes()).toBe(0);
    const second = derived(src, 'plus1', d.make(src));
    expect(d.runs()).toBe(2);
    expect(derivedBytes()).toBe(16);
    const third = derived(src, 'plus1', d.make(src));
    expect(d.runs()).toBe(2);
    expect(third.storage).toBe(second.storage);
    expect(Array.from(await third.toArray())).toEqual([2, 3, 4, 5]);
    // uncached: derived afresh, the kept result untouched.
    uncached(() => derived(src, 'plus1', d.make(src))).dispose();
    expect(d.runs()).toBe(3);
    expect(derivedBytes()).toBe(16);
    derived(src, 'plus1', d.make(src)).dispose();
    expect(d.runs()).toBe(3);
    // Another kind, or another view of the same storage, is another result.
    derived(src, 'plus1-other', d.make(src)).dispose();
    derived(src.view([2], [1], 2), 'plus1', () => (d.make(src)(), fromArray([0, 0]))).dispose();
    expect(d.runs()).toBe(5);
    runtime().queue.write(src.storage, 0, Float32Array.of(10));
    const fresh = derived(src, 'plus1', d.make(src));
    expect(d.runs()).toBe(6);
    expect(derivedBytes()).toBe(0);
    expect(Array.from(await fresh.toArray())).toEqual([11, 3, 4, 5]);
    for (const t of [first, second, third, fresh]) t.dispose();
    d.dispose();
    src.dispose();
  });

  it('are disposed with the source storage, or when the cache is turned off, and survive tidy', async () => {
    await sync();
    const before = memory().live;
    const src = fromArray([1, 2, 3, 4]);
    const d = counted();
    tidy(() => {
      derived(src, 'plus1', d.make(src));
      derived(src, 'plus1', d.make(src));
    });
    expect(derivedBytes()).toBe(16);
    const shared = tidy(() => derived(src, 'plus1', d.make(src)));
    expect(Array.from(await shared.toArray())).toEqual([2, 3, 4, 5]);
    expect(d.runs()).toBe(2);
    shared.dispose();
    src.dispose();
    d.dispose();
    expect(derivedBytes()).toBe(0);
    await sync();
    expect(memory().live).toBe(before);

    const again = fromArray([1, 2, 3, 4]);
    const e = counted();
    derived(again, 'plus1', e.make(again)).dispose();
    derived(again, 'plus1', e.make(again)).dispose();
    expect(derivedBytes()).toBe(16);
    setDerivedCache(false);
    expect(derivedBytes()).toBe(0);
    derived(again, 'plus1', e.make(again)).dispose();
    derived(again, 'plus1', e.make(again)).dispose();
    expect(e.runs()).toBe(4);
    expect(derivedBytes()).toBe(0);
    again.dispose();
    e.dispose();
    await sync();
    expect(memory().live).toBe(before);
  });

  it('never keep a view of the source itself (it would keep its own storage alive)', async () => {
    await sync();
    const before = memory().live;
    const src = fromArray([1, 2, 3, 4], [4, 1]);
    for (let i = 0; i < 3; i++) derived(src, 'view', () => src.view([1, 4], [1, 1], 0)).dispose();
    expect(derivedBytes()).toBe(0);
    src.dispose();
    await sync();
    expect(memory().live).toBe(before);
  });
});

describe('convs with derived weights', () => {
  /** Forward three times (the third from the cache), then changes w and checks the next forward uses it. */
  async function checkFresh(shape: { c: number; o: number; k: number; side: number }, change: (w: Tensor, x: Tensor) => void) {
    const { c, o, k, side } = shape;
    const x = fromArray(seededValues(2 * c * side * side, 1), [2, c, side, side]);
    const w = fromArray(seededValues(o * c * k * k, 2), [o, c, k, k], { requiresGrad: true });
    const opts = { padding: (k - 1) / 2 };
    const run = async () => {
      const y = conv2d(x, w, null, opts);
      const out = await y.toArray();
      y.dispose();
      return out;
    };
    for (let i = 0; i < 3; i++) await run();
    expect(derivedBytes()).toBeGreaterThan(0);
    change(w, x);
    const cached = await run();
    setDerivedCache(false);
    const direct = await run();
    expect(Array.from(cached)).toEqual(Array.from(direct));
    x.dispose();
    w.dispose();
  }

  const updates: [string, (w: Tensor, x: Tensor) => void][] = [
    ['an optimizer step', (w, x) => {
      const opt = new SGD([w], { lr: 0.5 });
      tidy(() => backward(sum(conv2d(x, w, null, { padding: (w.shape[2] - 1) / 2 }))));
      opt.step();
      opt.zeroGrad();
      opt.dispose();
    }],
    ['a queue write', (w) => runtime().queue.write(w.storage, 0, new Float32Array(w.size).fill(0.25))],
  ];

  for (const [how, change] of updates) {
    it(`pointwise 1x1: the transposed weight is made again after ${how}`, () => checkFresh({ c: 8, o: 16, k: 1, side: 5 }, change));
    it(`Winograd 3x3: U is made again after ${how}`, async () => {
      setWinogradConv('always');
      onTestFinished(() => setWinogradConv(true));
      await checkFresh({ c: 16, o: 16, k: 3, side: 6 }, change);
    });
  }

  it('keep nothing in a training loop, where every step writes the weights', async () => {
    const x = fromArray(seededValues(8 * 5 * 5, 1), [1, 8, 5, 5]);
    const w = fromArray(seededValues(16 * 8, 2), [16, 8, 1, 1], { requiresGrad: true });
    const opt = new SGD([w], { lr: 0.1 });
    for (let step = 0; step < 3; step++) {
      tidy(() => backward(sum(conv2d(x, w, null))));
      opt.step();
      opt.zeroGrad();
      expect(derivedBytes()).toBe(0);
    }
    opt.dispose();
    x.dispose();
    w.dispose();
    allocate([1]).dispose();
  });
});
