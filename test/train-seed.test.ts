// `fna train-seed` end to end on a slice of real MNIST: checkpoint with arch and accuracy, history JSON and
// SVG curve after each epoch, and a second run that resumes after the finished epoch. (Grey glyphs are
// replicated to 3 channels by the default normalisation, as ImageNet-style seeds expect.)
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { memory } from '../engine/index.ts';
import { trainSeedCommand } from '../fna/cli/train-seed.ts';
import { loadCheckpoint } from '../fna/train/checkpoint.ts';

const dir = mkdtempSync(join(tmpdir(), 'fna-train-seed-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('fna train-seed', () => {
  it('writes checkpoint, history and curve per epoch, and resumes after the last finished epoch', async () => {
    const out = join(dir, 'seed.safetensors');
    const args = ['--dataset', 'mnist', '--width', '0.35', '--size', '32', '--batch', '16', '--train-limit', '64', '--test-limit', '40', '--out', out];
    expect(await trainSeedCommand([...args, '--epochs', '1'])).toBe(0);
    const first = await loadCheckpoint(out);
    expect(first.metadata.epoch).toBe('1');
    const accuracy = Number(first.metadata.testAccuracy);
    expect(accuracy).toBeGreaterThanOrEqual(0);
    expect(accuracy).toBeLessThanOrEqual(1);
    expect(first.arch).toMatchObject({ kind: 'mobilenetv2', inputChannels: 3, numClasses: 10 });
    expect(existsSync(out.replace(/\.safetensors$/, '.curve.svg'))).toBe(true);

    expect(await trainSeedCommand([...args, '--epochs', '2'])).toBe(0);
    const history = JSON.parse(readFileSync(out.replace(/\.safetensors$/, '.history.json'), 'utf8')).history;
    // Epoch 1 comes from the first run (kept in the optimizer file), epoch 2 from the resumed one.
    expect(history.map((h: { epoch: number }) => h.epoch)).toEqual([1, 2]);
    expect(history[0].testAccuracy).toBe(accuracy);
    const second = await loadCheckpoint(out);
    expect(second.metadata.epoch).toBe('2');
    expect(Object.keys(second.stateDict)).toEqual(Object.keys(first.stateDict));
    expect(memory().live).toBe(0);
  }, 600_000);
});
