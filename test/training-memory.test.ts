import { describe, expect, it } from 'vitest';
import { backward, crossEntropy, fromArray, memory, runtime, sync, tidy } from '../engine/index.ts';
import { BatchNorm2d, Conv2d, Flatten, HostRng, Lambda, Linear, ReLU, Sequential } from '../engine/nn/index.ts';
import { globalAvgPool } from '../engine/ops/pool.ts';
import { Adam, SGD } from '../engine/optim/index.ts';

function makeBatch(rng: HostRng, batch: number, features: number, classes: number) {
  const x = new Float32Array(batch * features).map(() => rng.normal());
  const y = new Int32Array(batch).map(() => Math.floor(rng.uniform() * classes));
  return { x, y };
}

describe('a conv net (conv, depthwise, BN, ReLU6, pooling) holds GPU memory and pipelines steady', () => {
  it('200 steps: live bytes and pipeline count after step 200 equal those after step 1', async () => {
    const rng = new HostRng(4);
    const model = new Sequential(
      new Conv2d(3, 8, { kernel: 3, stride: 2, rng }),
      new BatchNorm2d(8),
      ReLU(),
      new Conv2d(8, 8, { kernel: 3, groups: 8, rng }),
      new BatchNorm2d(8),
      ReLU(),
      new Lambda('gap', globalAvgPool),
      Flatten(),
      new Linear(8, 4, { rng }),
    );
    const opt = new SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
    const x = new Float32Array(4 * 3 * 12 * 12).map(() => rng.normal());
    const y = Int32Array.of(0, 1, 2, 3);
    let live = -1;
    let pipelines = -1;
    for (let step = 1; step <= 200; step++) {
      const loss = tidy(() => {
        const l = crossEntropy(model.forward(fromArray(x, [4, 3, 12, 12])), fromArray(y, [4], { dtype: 'int32' }));
        opt.zeroGrad();
        backward(l);
        opt.step();
        return l;
      });
      await loss.item();
      loss.dispose();
      await sync();
      if (step === 1) [live, pipelines] = [memory().live, runtime().pipelines.size];
    }
    expect(memory().live).toBe(live);
    expect(runtime().pipelines.size).toBe(pipelines);
    opt.dispose();
    model.dispose();
    expect(memory().live).toBe(0);
  });
});

describe('a training loop holds GPU memory and pipelines steady', () => {
  for (const [name, makeOpt] of [
    ['SGD with momentum', (p: ReturnType<Sequential['parameters']>) => new SGD(p, { lr: 0.05, momentum: 0.9 })],
    ['Adam', (p: ReturnType<Sequential['parameters']>) => new Adam(p, { lr: 1e-3 })],
  ] as const) {
    it(`200 steps with ${name}: live bytes after step 200 equal those after step 1`, async () => {
      const rng = new HostRng(3);
      const model = new Sequential(new Linear(20, 32, { rng }), ReLU(), new Linear(32, 5, { rng }));
      const opt = makeOpt(model.parameters());
      let liveAfterFirst = -1;
      let pipelinesAfterFirst = -1;
      let firstLoss = NaN;
      let lastLoss = NaN;
      const { x, y } = makeBatch(rng, 16, 20, 5);
      for (let step = 1; step <= 200; step++) {
        const loss = tidy(() => {
          const l = crossEntropy(model.forward(fromArray(x, [16, 20])), fromArray(y, [16], { dtype: 'int32' }));
          opt.zeroGrad();
          backward(l);
          opt.step();
          return l;
        });
        const value = await loss.item();
        loss.dispose();
        await sync();
        if (step === 1) {
          liveAfterFirst = memory().live;
          pipelinesAfterFirst = runtime().pipelines.size;
          firstLoss = value;
        }
        lastLoss = value;
      }
      expect(memory().live).toBe(liveAfterFirst);
      expect(runtime().pipelines.size).toBe(pipelinesAfterFirst);
      expect(lastLoss).toBeLessThan(firstLoss * 0.5); // it trains on the fixed batch
      opt.dispose();
      model.dispose();
      expect(memory().live).toBe(0);
    });
  }
});
