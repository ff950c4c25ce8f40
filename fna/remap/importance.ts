// Width ablations (spec §1.4, not the default): rank a seed MBConv's hidden channels, keep the top q in
// ascending index order, and use that one set for the expand outputs, both BNs, the depthwise filters and the
// project inputs.
import type { HostTensor, StateDict } from '../../engine/host.ts';
import { RemapError } from './errors.ts';

export type WidthSelection = 'first-k' | 'bn' | 'std' | 'l1';

export const WIDTH_SELECTIONS: readonly WidthSelection[] = ['first-k', 'bn', 'std', 'l1'];

function rowScores(weight: HostTensor, score: (row: Float32Array | Int32Array) => number): number[] {
  const rows = weight.shape[0];
  const size = weight.data.length / rows;
  return Array.from({ length: rows }, (_, r) => score(weight.data.subarray(r * size, (r + 1) * size)));
}

function std(row: ArrayLike<number>): number {
  let mean = 0;
  for (let i = 0; i < row.length; i++) mean += row[i];
  mean /= row.length;
  let variance = 0;
  for (let i = 0; i < row.length; i++) variance += (row[i] - mean) ** 2;
  return Math.sqrt(variance / row.length);
}

function l1(row: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < row.length; i++) s += Math.abs(row[i]);
  return s;
}

/**
 * Hidden channels of seed layer `group` (a `blocks.b.layers.l` prefix with an expand conv), most important
 * first; ties keep the lower index first. 'bn' reads |gamma| of the BN after the expand conv (op.1),
 * 'std' / 'l1' read the expand conv's filters (op.0).
 */
export function hiddenChannelRanking(by: Exclude<WidthSelection, 'first-k'>, seed: StateDict, group: string): number[] {
  const key = by === 'bn' ? `${group}.op.1.weight` : `${group}.op.0.weight`;
  const tensor = seed.get(key);
  if (!tensor) throw new RemapError(`seed['${key}']`, `missing; width selection '${by}' ranks channels by it`);
  const scores = by === 'bn' ? Array.from(tensor.data, Math.abs) : rowScores(tensor, by === 'std' ? std : l1);
  return scores.map((_, i) => i).sort((a, b) => scores[b] - scores[a] || a - b);
}

/** The q most important channels, in ascending index order (spec §1.4). */
export function topChannels(ranking: readonly number[], q: number): number[] {
  return ranking.slice(0, q).sort((a, b) => a - b);
}
