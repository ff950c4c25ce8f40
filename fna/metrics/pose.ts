// PCK (percentage of correct keypoints): a visible ground-truth keypoint is correct when the predicted
// one lies within alpha * referenceSize (Euclidean, inclusive) of it, referenceSize being per instance
// (e.g. torso length, or head size for PCKh). Invisible keypoints are left out entirely. `pck` is
// correct / visible over all instances and joints (NaN when nothing is visible); `perJoint` is the same
// per joint index (NaN for a joint never visible).

export interface PCKInput {
  /** N x K x 2, (x, y) */
  predicted: ArrayLike<number>;
  /** N x K x 2, (x, y) */
  target: ArrayLike<number>;
  /** N x K, nonzero = visible */
  visible: ArrayLike<number>;
  numKeypoints: number;
  /** One length per instance, or one for all. */
  referenceSizes: ArrayLike<number> | number;
  /** Threshold as a fraction of the reference size; 0.2 by default (PCK@0.2). */
  alpha?: number;
}

export interface PCKResult {
  pck: number;
  perJoint: Float64Array;
  visibleCount: number;
}

export function pck({ predicted, target, visible, numKeypoints: k, referenceSizes, alpha = 0.2 }: PCKInput): PCKResult {
  if (!Number.isInteger(k) || k < 1 || visible.length % k !== 0) {
    throw new Error(`pck: ${visible.length} visibility flags do not split into instances of ${k} keypoints`);
  }
  const n = visible.length / k;
  if (predicted.length !== 2 * n * k || target.length !== 2 * n * k) {
    throw new Error(`pck: predicted has ${predicted.length} and target ${target.length} coordinates; N=${n}, K=${k} needs ${2 * n * k}`);
  }
  if (typeof referenceSizes !== 'number' && referenceSizes.length !== n) {
    throw new Error(`pck: ${referenceSizes.length} reference sizes for ${n} instances`);
  }
  const correctPerJoint = new Float64Array(k);
  const visiblePerJoint = new Float64Array(k);
  for (let i = 0; i < n * k; i++) {
    if (!visible[i]) continue;
    const ref = typeof referenceSizes === 'number' ? referenceSizes : referenceSizes[Math.floor(i / k)];
    const joint = i % k;
    visiblePerJoint[joint]++;
    const distance = Math.hypot(predicted[2 * i] - target[2 * i], predicted[2 * i + 1] - target[2 * i + 1]);
    if (distance <= alpha * ref) correctPerJoint[joint]++;
  }
  const perJoint = correctPerJoint.map((c, j) => (visiblePerJoint[j] === 0 ? NaN : c / visiblePerJoint[j]));
  const correct = correctPerJoint.reduce((a, b) => a + b, 0);
  const visibleCount = visiblePerJoint.reduce((a, b) => a + b, 0);
  return { pck: visibleCount === 0 ? NaN : correct / visibleCount, perJoint, visibleCount };
}
