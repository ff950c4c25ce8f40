import { describe, expect, it } from 'vitest';
import { memory } from '../engine/index.ts';
import { trainMnistMlp } from '../examples/mnist-mlp.ts';

describe('a 2-layer MLP trained with the engine on real MNIST', () => {
  it('reaches at least 95% test accuracy in two epochs', async () => {
    const r = await trainMnistMlp({ epochs: 2, hidden: 128, batch: 128, lr: 0.1, seed: 1, quiet: true });
    console.log(`MNIST MLP: test accuracy ${(100 * r.testAccuracy).toFixed(2)}% after ${r.seconds.toFixed(1)} s`);
    expect(r.testAccuracy).toBeGreaterThanOrEqual(0.95);
    expect(memory().live).toBe(0);
  });
});
