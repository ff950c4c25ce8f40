// Confusion-matrix IoU. Conventions (those of mmseg / TorchSeg):
//  - pixels whose ground truth is `ignoreIndex` are skipped, whatever was predicted there;
//  - IoU_c = TP / (TP + FP + FN), accumulated over every image seen;
//  - a class absent from both ground truth and prediction (TP + FP + FN = 0) has IoU NaN and is left out
//    of the mean; a class absent from the ground truth but predicted somewhere has IoU 0 and counts;
//  - the mean of no classes at all is NaN.

export class ConfusionMatrix {
  /** counts[gt * numClasses + pred] */
  readonly counts: Float64Array;

  constructor(readonly numClasses: number, readonly ignoreIndex = 255) {
    if (!Number.isInteger(numClasses) || numClasses < 1) {
      throw new Error(`ConfusionMatrix: numClasses must be a positive integer, got ${numClasses}`);
    }
    this.counts = new Float64Array(numClasses * numClasses);
  }

  update(prediction: ArrayLike<number>, groundTruth: ArrayLike<number>): this {
    const n = this.numClasses;
    if (prediction.length !== groundTruth.length) {
      throw new Error(`ConfusionMatrix.update: ${prediction.length} predicted pixels vs ${groundTruth.length} ground-truth pixels`);
    }
    for (let i = 0; i < groundTruth.length; i++) {
      const gt = groundTruth[i];
      if (gt === this.ignoreIndex) continue;
      const pred = prediction[i];
      if (!Number.isInteger(gt) || gt < 0 || gt >= n) {
        throw new Error(`ConfusionMatrix.update: ground truth ${gt} at pixel ${i} is neither in [0, ${n}) nor the ignore index ${this.ignoreIndex}`);
      }
      if (!Number.isInteger(pred) || pred < 0 || pred >= n) {
        throw new Error(`ConfusionMatrix.update: prediction ${pred} at pixel ${i} is not in [0, ${n})`);
      }
      this.counts[gt * n + pred]++;
    }
    return this;
  }

  /** Per-class IoU; NaN for classes that appear in neither ground truth nor prediction. */
  iou(): Float64Array {
    const n = this.numClasses;
    const out = new Float64Array(n);
    for (let c = 0; c < n; c++) {
      let gtTotal = 0;
      let predTotal = 0;
      for (let k = 0; k < n; k++) {
        gtTotal += this.counts[c * n + k];
        predTotal += this.counts[k * n + c];
      }
      const tp = this.counts[c * n + c];
      const union = gtTotal + predTotal - tp;
      out[c] = union === 0 ? NaN : tp / union;
    }
    return out;
  }

  meanIoU(): number {
    return nanMean(this.iou());
  }

  /** Correct pixels / non-ignored pixels (NaN when none). */
  pixelAccuracy(): number {
    let correct = 0;
    let total = 0;
    for (let c = 0; c < this.numClasses; c++) correct += this.counts[c * this.numClasses + c];
    for (const v of this.counts) total += v;
    return total === 0 ? NaN : correct / total;
  }
}

export function nanMean(values: ArrayLike<number>): number {
  let sum = 0;
  let count = 0;
  for (let i = 0; i < values.length; i++) {
    if (Number.isNaN(values[i])) continue;
    sum += values[i];
    count++;
  }
  return count === 0 ? NaN : sum / count;
}

/** One-shot mIoU over label maps of equal length (see the conventions above). */
export function meanIoU(
  prediction: ArrayLike<number>, groundTruth: ArrayLike<number>, numClasses: number, ignoreIndex = 255,
): number {
  return new ConfusionMatrix(numClasses, ignoreIndex).update(prediction, groundTruth).meanIoU();
}
