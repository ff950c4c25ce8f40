// The seed MobileNetV2 shipped in docs/results (trained by `fna train-seed`, README) really has the test
// accuracy its metadata claims: loaded into a fresh model and evaluated on all 10,000 MNIST test images.
import { describe, expect, it } from 'vitest';
import { memory } from '../engine/index.ts';
import { createClassificationTask } from '../fna/data/classification.ts';
import { loadDataset } from '../fna/data/datasets.ts';
import { MobileNetV2 } from '../fna/models/mobilenet.ts';
import type { MobileNetArch } from '../fna/arch/types.ts';
import { loadCheckpoint } from '../fna/train/checkpoint.ts';
import { evaluateClassifier } from '../fna/train/classify.ts';
import { padDataset } from '../fna/train/padded.ts';

describe('the shipped MNIST seed checkpoint', () => {
  it('scores its recorded test accuracy (>= 98%) on the full MNIST test set', async () => {
    const ck = await loadCheckpoint('docs/results/seed-mnist-w0.5-32.safetensors');
    const model = new MobileNetV2(ck.arch as MobileNetArch);
    model.loadStateDict(ck.stateDict);
    const test = padDataset(createClassificationTask(loadDataset('mnist', 'test')), Number(ck.metadata.inputSize));
    const accuracy = await evaluateClassifier(model, test);
    console.log(`shipped seed: ${(100 * accuracy).toFixed(2)}% on ${test.length} MNIST test images (metadata: ${ck.metadata.testAccuracy})`);
    expect(accuracy).toBeGreaterThanOrEqual(0.98);
    // Same kernels, same data: the recorded number comes back up to a few images of rounding difference.
    expect(Math.abs(accuracy - Number(ck.metadata.testAccuracy))).toBeLessThanOrEqual(0.0005);
    model.dispose();
    expect(memory().live).toBe(0);
  }, 600_000);
});
