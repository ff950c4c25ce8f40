/** Index of the largest score in each row of an N x C score matrix; ties go to the lowest index. */
export function argmaxRows(scores: ArrayLike<number>, numClasses: number): Int32Array {
  if (!Number.isInteger(numClasses) || numClasses < 1 || scores.length % numClasses !== 0) {
    throw new Error(`argmaxRows: ${scores.length} scores do not form rows of ${numClasses} classes`);
  }
  const rows = scores.length / numClasses;
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let c = 1; c < numClasses; c++) if (scores[r * numClasses + c] > scores[r * numClasses + best]) best = c;
    out[r] = best;
  }
  return out;
}

/**
 * Fraction of rows whose highest score is at the label. `scores` is N x C (logits or probabilities,
 * row-major). A NaN score never wins, so a row of NaNs predicts class 0.
 */
export function top1Accuracy(scores: ArrayLike<number>, numClasses: number, labels: ArrayLike<number>): number {
  const predictions = argmaxRows(scores, numClasses);
  if (predictions.length !== labels.length) {
    throw new Error(`top1Accuracy: ${predictions.length} score rows (of ${numClasses} classes) but ${labels.length} labels`);
  }
  if (labels.length === 0) throw new Error('top1Accuracy: no samples');
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (predictions[i] === labels[i]) correct++;
  return correct / labels.length;
}
