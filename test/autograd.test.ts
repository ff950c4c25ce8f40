// Autograd, scopes, the buffer pool, the command queue and pipelines: the engine core the ops stand on.
import { describe, expect, it } from 'vitest';
import * as E from '../engine/index.ts';
import { memory, runtime, sync, type Tensor } from '../engine/index.ts';
import { LINEAR_ID } from '../kernels/prelude.ts';

const values = async (t: Tensor) => Array.from(await t.toArray());
const close = (actual: number[], expected: number[]) => expected.forEach((e, i) => expect(actual[i]).toBeCloseTo(e, 5));

describe('backward', () => {
  it('a 20,000-op chain: no stack overflow forward, backward or when freed', async () => {
    const live = memory().live;
    const x = E.fromArray([1, 2, 3, 4, 5, 6], [2, 3], { requiresGrad: true });
    // Reshapes of a dense tensor are views, so the depth costs no GPU work.
    const end = E.tidy(() => {
      let y = x;
      for (let i = 0; i < 20_000; i++) y = E.reshape(y, i % 2 ? [2, 3] : [6]);
      return E.sum(E.mul(y, y));
    });
    E.backward(end);
    expect(await values(x.grad!)).toEqual([2, 4, 6, 8, 10, 12]);
    end.dispose();
    x.dispose();
    expect(memory().live).toBe(live);
  });

  it('accumulates the gradient of a tensor used several times, and across backward calls', async () => {
    const x = E.fromArray([0.5, -1, 2], [3], { requiresGrad: true });
    const loss = () => E.tidy(() => E.sum(E.add(E.add(E.mul(x, x), E.mulScalar(x, 3)), E.exp(x))));
    const expected = [0.5, -1, 2].map((v) => 2 * v + 3 + Math.exp(v));
    const first = loss();
    E.backward(first);
    close(await values(x.grad!), expected);
    const second = loss();
    E.backward(second);
    close(await values(x.grad!), expected.map((g) => 2 * g));
    for (const t of [first, second, x]) t.dispose();
  });

  it('noGrad, enableGrad, detach and requiresGrad propagation', async () => {
    const x = E.fromArray([1, 2], [2], { requiresGrad: true });
    const c = E.fromArray([3, 4]);
    const fromBoth = E.mul(x, c);
    expect(fromBoth.requiresGrad && fromBoth.gradFn !== null).toBe(true);
    const constant = E.mul(c, c);
    expect(constant.requiresGrad || constant.gradFn !== null).toBe(false);
    const inNoGrad = E.noGrad(() => E.mul(x, c));
    expect(inNoGrad.requiresGrad || inNoGrad.gradFn !== null).toBe(false);
    expect(E.noGrad(() => E.enableGrad(() => E.isGradEnabled()))).toBe(true);
    expect(E.isGradEnabled()).toBe(true);
    const d = E.detach(fromBoth);
    expect(d.requiresGrad || d.gradFn !== null).toBe(false);
    expect(d.storage).toBe(fromBoth.storage);
    // Only the path through x counts: detach cuts the second term off the graph.
    const loss = E.sum(E.add(fromBoth, E.mul(d, x)));
    E.backward(loss);
    expect(await values(x.grad!)).toEqual([3 + 3, 4 + 8]);
    expect(c.grad).toBeNull();
    for (const t of [x, c, fromBoth, constant, inNoGrad, d, loss]) t.dispose();
  });

  it('frees saved tensors after backward, and when outputs are disposed without backward', async () => {
    const x = E.fromArray([1, 2, 3], [3], { requiresGrad: true });
    await sync();
    const baseline = memory().live;
    const run = () => E.tidy(() => E.sum(E.mul(E.exp(x), E.sigmoid(x))));
    const loss = run();
    E.backward(loss);
    loss.dispose();
    x.grad!.dispose();
    x.grad = null;
    expect(memory().live).toBe(baseline);
    run().dispose(); // a graph nobody backpropagates through
    expect(memory().live).toBe(baseline);
    const kept = run();
    E.backward(kept, undefined, { retainGraph: true });
    const gradAndLoss = 12 + 4;
    // Retained: the saved outputs of exp and sigmoid (12 bytes each) outlive the tidy that made them.
    expect(memory().live).toBe(baseline + gradAndLoss + 24);
    E.backward(kept); // a second pass through the retained graph works, and frees it
    expect(memory().live).toBe(baseline + gradAndLoss);
    close(await values(x.grad!), [1, 2, 3].map((v) => {
      const s = 1 / (1 + Math.exp(-v));
      return 2 * Math.exp(v) * (s + s * (1 - s));
    }));
    kept.dispose();
    x.dispose();
    expect(memory().live).toBe(baseline - 12);
  });

  it('clear errors: a second backward without retainGraph, a non-scalar without a gradient, use after dispose', async () => {
    const live = memory().live;
    const x = E.fromArray([1, 2, 3], [3], { requiresGrad: true });
    const y = E.exp(x);
    const loss = E.sum(y);
    E.backward(loss);
    expect(() => E.backward(loss)).toThrow(/graph through 'sum' was already freed; pass \{ retainGraph: true \}/);
    expect(() => E.backward(y)).toThrow(/output has shape \[3\]; backward without a gradient argument needs a single-element output/);
    const g = E.fromArray([1, 1]);
    expect(() => E.backward(y, g)).toThrow(/gradient shape \[2\] does not match output \[3\]/);
    const constant = E.scalar(1);
    expect(() => E.backward(constant)).toThrow(/does not require grad/);
    y.dispose();
    expect(() => E.exp(y)).toThrow(new RegExp(`Tensor#${y.id} \\[3\\] was used after dispose\\(\\)`));
    await expect(y.toArray()).rejects.toThrow(`Tensor#${y.id}`);
    for (const t of [x, loss, g, constant]) t.dispose();
    await sync();
    expect(memory().live).toBe(live);
  });
});

describe('tidy', () => {
  it('disposes what is not returned or kept, keeps what is, and disposes everything on an exception', () => {
    const outside = E.fromArray([1]);
    let inner: Tensor[] = [];
    const result = E.tidy(() => {
      inner = [E.fromArray([2]), E.fromArray([3]), E.fromArray([4]), E.fromArray([5])];
      E.keep(inner[3]);
      const nested = E.tidy(() => E.add(inner[0], outside));
      return { pair: [inner[1], nested], same: outside };
    });
    expect(inner.map((t) => t.disposed)).toEqual([true, false, true, false]);
    expect(result.pair[1].disposed || outside.disposed).toBe(false);
    let thrownInside: Tensor | null = null;
    expect(() =>
      E.tidy(() => {
        thrownInside = E.fromArray([6]);
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(thrownInside!.disposed).toBe(true);
    expect(() => E.tidy(() => Promise.resolve() as never)).toThrow(/must be synchronous/);
    for (const t of [outside, inner[1], inner[3], result.pair[1]]) t.dispose();
  });
});

describe('buffer pool and queue', () => {
  it('accounts bytes exactly and does not reuse a buffer before the flush that submits its last use', async () => {
    await sync();
    E.trimPool();
    const check = () => {
      const m = memory();
      expect(m.allocated).toBe(m.live + m.pooled + m.pendingRelease);
      return m;
    };
    const before = check();
    const x = E.fromArray([1, 2, 3]);
    expect(check().live - before.live).toBe(12);
    const y = E.exp(x); // recorded, not submitted: x is still needed
    const xBuffer = x.storage.buffer;
    x.dispose();
    expect(check().pendingRelease).toBe(12);
    const z = E.fromArray([9, 9, 9]); // must not land in x's buffer before exp has read it
    expect(z.storage.buffer).not.toBe(xBuffer);
    close(await values(y), [1, 2, 3].map(Math.exp));
    await sync();
    expect(check().pendingRelease).toBe(0);
    expect(memory().pooled).toBe(before.pooled + 12);
    const reused = E.fromArray([7, 7, 7]);
    expect(reused.storage.buffer).toBe(xBuffer);
    for (const t of [y, z, reused]) t.dispose();
    await sync();
    expect(check().pooled).toBeGreaterThan(0);
    E.trimPool();
    const trimmed = check();
    expect(trimmed.pooled).toBe(0);
    expect(trimmed.allocated).toBe(before.allocated - before.pooled);
  });

  it('hands a buffer released in the unsubmitted batch to the next GPU-written output, never to an upload', async () => {
    await sync();
    const x = E.fromArray([1, 2, 3]);
    const y = E.exp(x); // recorded, not submitted: reads x
    const xBuffer = x.storage.buffer;
    x.dispose();
    const upload = E.fromArray([4, 4, 4]);
    expect(upload.storage.buffer).not.toBe(xBuffer);
    const z = E.neg(y); // written by a kernel recorded after exp: may take x's buffer
    expect(z.storage.buffer).toBe(xBuffer);
    expect(memory().pendingRelease).toBe(0);
    close(await values(y), [1, 2, 3].map(Math.exp));
    close(await values(z), [1, 2, 3].map((v) => -Math.exp(v)));
    for (const t of [y, z, upload]) t.dispose();
  });

  it('a queue write into a storage the unsubmitted batch uses lands after the commands recorded before it', async () => {
    await sync();
    const x = E.fromArray([1, 2, 3]);
    const y = E.exp(x);
    x.dispose();
    const z = E.neg(y); // x's buffer, still to be read by exp
    runtime().queue.write(z.storage, 0, Float32Array.of(5, 6, 7));
    close(await values(y), [1, 2, 3].map(Math.exp));
    close(await values(z), [5, 6, 7]);
    for (const t of [y, z]) t.dispose();
  });

  it('a repeated step reuses its bind groups once the pool settles, and each dispatch still reads its own uniforms', async () => {
    const queue = runtime().queue;
    const x = E.fromArray([1, 2, 3, 4]);
    const step = (s: number) =>
      E.tidy(() => {
        const y = E.mulScalar(E.exp(E.mulScalar(x, s)), 2);
        return E.sum(E.add(y, E.neg(x)));
      });
    const created: number[] = [];
    for (let s = 1; s <= 6; s++) {
      await sync();
      const before = queue.stats.bindGroupsCreated;
      const total = step(s / 8);
      const got = await total.item();
      total.dispose();
      created.push(queue.stats.bindGroupsCreated - before);
      const want = [1, 2, 3, 4].reduce((acc, v) => acc + 2 * Math.exp((v * s) / 8) - v, 0);
      expect(Math.abs(got - want)).toBeLessThanOrEqual(1e-5 * Math.abs(want));
    }
    expect(created.slice(-2)).toEqual([0, 0]);
    x.dispose();
  });

  it('a batch of same-sized ops keeps two buffers, not one per op', async () => {
    const queue = runtime().queue;
    const threshold = queue.flushThreshold;
    queue.flushThreshold = Number.MAX_SAFE_INTEGER;
    await sync();
    const x = E.fromArray(new Float32Array(1000).fill(0.5));
    const before = memory().allocated;
    try {
      let y = E.exp(x);
      for (let i = 0; i < 200; i++) {
        const next = E.neg(y);
        y.dispose();
        y = next;
      }
      expect(memory().allocated - before).toBeLessThanOrEqual(2 * 4000);
      close(await values(y), Array(1000).fill(Math.exp(0.5)));
      y.dispose();
    } finally {
      queue.flushThreshold = threshold;
      x.dispose();
    }
  });

  it('a flush forced by a full uniform ring still defers the release of buffers the next dispatch uses', async () => {
    const queue = runtime().queue;
    const threshold = queue.flushThreshold;
    queue.flushThreshold = Number.MAX_SAFE_INTEGER; // only the uniform ring (a few hundred dispatches) flushes
    const submits = queue.stats.submits;
    try {
      for (let i = 0; i < 1500; i++) {
        const x = E.fromArray([i]);
        const y = E.neg(x);
        x.dispose();
        expect(memory().pendingRelease).toBeGreaterThan(0);
        y.dispose();
      }
      expect(queue.stats.submits).toBeGreaterThan(submits);
    } finally {
      queue.flushThreshold = threshold;
    }
    await sync();
    expect(memory().pendingRelease).toBe(0);
  });
});

describe('pipelines and kernels', () => {
  it('running the same ops on new shapes compiles no new pipelines', async () => {
    const workload = (shape: number[]) =>
      E.tidy(() => {
        const a = E.fromArray(shape.map((_, i) => i + 1).concat(Array(shape.reduce((p, d) => p * d, 1) - shape.length).fill(0.5)), shape, { requiresGrad: true });
        const b = E.fromArray(Array(shape[shape.length - 1]).fill(2), [shape[shape.length - 1]], { requiresGrad: true });
        const y = E.max(E.sigmoid(E.mulScalar(E.contiguous(E.transpose(E.add(a, b))), 2)), 0);
        E.backward(E.sum(E.mean(y)));
        return [];
      });
    // Kernels pick a variant by shape class (vec4 when the length is a multiple of 4, which reduction
    // layout), never by shape: once one shape of each class has run, new shapes compile nothing.
    // Classes here: length a multiple of 4 or not, a leading size-1 axis, a row broadcast read as vec4,
    // transposed matrices with sides a multiple of 4 (4x4 blocks) or not, and a permuted view that is no
    // batch of transposed matrices (rank 3 with a leading axis > 1: the generic strided copy).
    for (const shape of [[3, 4], [5, 7], [1, 6, 3], [1, 4, 2], [8, 8], [2, 3, 5]]) workload(shape);
    await sync();
    const count = runtime().pipelines.size;
    for (const shape of [[2, 9, 6], [17, 3, 2, 5], [6, 10], [1, 13, 3], [1, 12, 2], [4, 4], [9, 9], [12, 4]]) workload(shape);
    await sync();
    expect(runtime().pipelines.size).toBe(count);
    expect(runtime().pipelines.names().join(' ')).not.toMatch(/\d+x\d+|\[\d+,\s*\d+\]/);
  });

  it('dispatches past 65535 workgroups reach every element exactly once', async () => {
    const kernel = new E.Kernel(
      'count_writes',
      /* wgsl */ `
struct Params { n: u32 }
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<uniform> params: Params;
${LINEAR_ID}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lidx: u32) {
  let i = linear_id(wid, nwg, lidx, 64u);
  if (i >= params.n) { return; }
  out[i] = out[i] + f32(i) + 1.0;
}`,
    );
    const n = 65537 * 64 + 5;
    const grid = E.grid1d(n, 64);
    expect(grid[1]).toBeGreaterThan(1);
    const out = E.zeros([n]);
    kernel.run({ out: out.storage }, { n }, grid);
    const got = await out.toArray();
    let wrong = -1;
    for (let i = 0; i < n && wrong < 0; i++) if (got[i] !== i + 1) wrong = i;
    expect(wrong).toBe(-1);
    expect(() => kernel.run({ out: out.storage }, { n }, [70_000, 1, 1])).toThrow(/kernel 'count_writes': 70000 workgroups/);
    expect(() => kernel.run({ out: out.storage }, {}, grid)).toThrow(/kernel 'count_writes': uniform 'n' was not given/);
    expect(() => kernel.run({ out: out.storage }, { n, m: 1 }, grid)).toThrow(/kernel 'count_writes': unknown uniform 'm'/);
    expect(() => kernel.run({}, { n }, grid)).toThrow(/kernel 'count_writes': binding 'out' was not given/);
    out.dispose();
  });

  it('a WGSL compile error is thrown at the next sync and at every later run, naming the kernel; the engine keeps working', async () => {
    const bad = new E.Kernel(
      'does_not_compile',
      `@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) { out[g.x] = 1u; }`,
    );
    const out = E.zeros([4]);
    await sync(); // a failed submit drops every command of its batch, so the fill goes first
    bad.run({ out: out.storage }, {}, [1, 1, 1]);
    await expect(sync()).rejects.toThrow(/kernel 'does_not_compile' failed to compile: .*cannot assign 'u32' to 'f32'/s);
    await sync();
    // Later runs of it throw the compile error at once, not a GPU error named after another kernel.
    expect(() => bad.run({ out: out.storage }, {}, [1, 1, 1])).toThrow(/kernel 'does_not_compile' failed to compile/);
    await sync();
    const y = E.addScalar(out, 1);
    expect(await values(y)).toEqual([1, 1, 1, 1]);
    out.dispose();
    y.dispose();
  });
});
