import { describe, expect, it } from 'vitest';
import {
  ConfusionMatrix, type GroundTruthBox, type ScoredDetection, argmaxRows, averagePrecision, meanAveragePrecision, meanIoU,
  pck, top1Accuracy,
} from '../fna/metrics/index.ts';
import { createDetectionTask, createPoseTask, createSegmentationTask, loadDataset } from '../fna/data/index.ts';

describe('top1Accuracy', () => {
  it('counts argmax hits, ties going to the lowest class', () => {
    const scores = [0.1, 0.7, 0.2, /**/ 2, 2, 1, /**/ 0, 0, 5, /**/ 3, 1, 0];
    expect([...argmaxRows(scores, 3)]).toEqual([1, 0, 2, 0]);
    expect(top1Accuracy(scores, 3, [1, 0, 2, 1])).toBe(0.75);
  });
  it('rejects empty input and shape mismatches', () => {
    expect(() => top1Accuracy([], 3, [])).toThrow(/no samples/);
    expect(() => top1Accuracy([1, 2, 3], 3, [0, 1])).toThrow(/1 score rows .* but 2 labels/);
    expect(() => top1Accuracy([1, 2, 3, 4], 3, [0])).toThrow(/do not form rows of 3/);
  });
});

describe('mIoU', () => {
  // gt 0 0 1 1 ign 0 / pred 0 1 1 1 2 2:
  //   class 0: TP 1, |gt| 3, |pred| 1 -> 1/3;  class 1: TP 2, |gt| 2, |pred| 3 -> 2/3
  //   class 2: not in gt, predicted once (the prediction on the ignored pixel does not count) -> 0
  const gt = [0, 0, 1, 1, 255, 0];
  const pred = [0, 1, 1, 1, 2, 2];

  it('matches the hand-computed confusion matrix', () => {
    const cm = new ConfusionMatrix(3).update(pred, gt);
    expect([...cm.counts]).toEqual([1, 1, 1, 0, 2, 0, 0, 0, 0]);
    const iou = cm.iou();
    expect(iou[0]).toBeCloseTo(1 / 3, 12);
    expect(iou[1]).toBeCloseTo(2 / 3, 12);
    expect(iou[2]).toBe(0);
    expect(cm.meanIoU()).toBeCloseTo(1 / 3, 12);
    expect(cm.pixelAccuracy()).toBeCloseTo(3 / 5, 12);
  });

  it('leaves classes absent from both ground truth and prediction out of the mean', () => {
    const cm = new ConfusionMatrix(5).update(pred, gt);
    expect(cm.iou()[3]).toBeNaN();
    expect(cm.iou()[4]).toBeNaN();
    expect(cm.meanIoU()).toBeCloseTo(1 / 3, 12);
  });

  it('accumulates over images and handles all-ignored input', () => {
    const cm = new ConfusionMatrix(3).update(pred.slice(0, 3), gt.slice(0, 3)).update(pred.slice(3), gt.slice(3));
    expect(cm.meanIoU()).toBeCloseTo(1 / 3, 12);
    expect(meanIoU([1, 2], [255, 255], 3)).toBeNaN();
    expect(meanIoU([1, 2], [1, 2], 3)).toBe(1);
    expect(meanIoU([0, 0], [7, 7], 3, 7)).toBeNaN();
  });

  it('rejects out-of-range labels', () => {
    expect(() => new ConfusionMatrix(3).update([3], [0])).toThrow(/prediction 3 at pixel 0 is not in \[0, 3\)/);
    expect(() => new ConfusionMatrix(3).update([0], [9])).toThrow(/ground truth 9 at pixel 0/);
    expect(() => new ConfusionMatrix(3).update([0, 1], [0])).toThrow(/2 predicted pixels vs 1/);
  });
});

describe('mAP@0.5 (VOC all-point)', () => {
  const gts: GroundTruthBox[] = [
    { image: 0, classId: 0, box: [0, 0, 10, 10] },
    { image: 0, classId: 0, box: [20, 20, 30, 30] },
    { image: 0, classId: 0, box: [40, 0, 50, 10], difficult: true },
    { image: 1, classId: 1, box: [0, 0, 10, 10] },
  ];
  const dets: ScoredDetection[] = [
    { image: 0, classId: 0, score: 0.9, box: [0, 0, 10, 10] }, // TP
    { image: 0, classId: 0, score: 0.8, box: [0, 0, 10, 10] }, // FP: its best match is taken
    { image: 0, classId: 0, score: 0.7, box: [50, 50, 60, 60] }, // FP: no overlap
    { image: 0, classId: 0, score: 0.6, box: [20, 20, 30, 31] }, // TP: IoU 100/110
    { image: 0, classId: 0, score: 0.95, box: [40, 0, 50, 10] }, // ignored: matches a difficult box
    { image: 3, classId: 2, score: 0.99, box: [0, 0, 5, 5] }, // class 2 has no ground truth: excluded
  ];

  it('interpolates precision over all recall points', () => {
    // recall .5 .5 .5 1, precision 1 .5 .33 .5 -> envelope 1 .5 .5 .5 -> AP = .5 * 1 + .5 * .5
    expect(averagePrecision([0.5, 0.5, 0.5, 1], [1, 0.5, 1 / 3, 0.5])).toBeCloseTo(0.75, 12);
    expect(averagePrecision([], [])).toBe(0);
  });

  it('matches the hand-computed example', () => {
    const { map, perClass } = meanAveragePrecision(dets, gts);
    expect([...perClass.keys()]).toEqual([0, 1]);
    expect(perClass.get(0)).toBeCloseTo(0.75, 12);
    expect(perClass.get(1)).toBe(0); // ground truth, no detections
    expect(map).toBeCloseTo(0.375, 12);
  });

  it('does not depend on the input order of detections', () => {
    expect(meanAveragePrecision([...dets].reverse(), gts).map).toBeCloseTo(0.375, 12);
  });

  it('treats IoU exactly at the threshold as a match and other images as misses', () => {
    const gt: GroundTruthBox[] = [{ image: 0, classId: 0, box: [0, 0, 10, 10] }];
    expect(meanAveragePrecision([{ image: 0, classId: 0, score: 1, box: [0, 0, 10, 5] }], gt).map).toBe(1);
    expect(meanAveragePrecision([{ image: 0, classId: 0, score: 1, box: [0, 0, 10, 4.9] }], gt).map).toBe(0);
    expect(meanAveragePrecision([{ image: 1, classId: 0, score: 1, box: [0, 0, 10, 10] }], gt).map).toBe(0);
  });

  it('handles empty predictions and empty ground truth', () => {
    expect(meanAveragePrecision([], gts)).toEqual({ map: 0, perClass: new Map([[0, 0], [1, 0]]) });
    const none = meanAveragePrecision(dets, []);
    expect(none.map).toBeNaN();
    expect(none.perClass.size).toBe(0);
    expect(meanAveragePrecision(dets, [{ image: 0, classId: 0, box: [0, 0, 1, 1], difficult: true }]).map).toBeNaN();
  });

  it('rejects malformed boxes', () => {
    expect(() => meanAveragePrecision([{ image: 0, classId: 0, score: 1, box: [5, 0, 1, 1] }], gts)).toThrow(/detection 0 has box \[5,0,1,1\]/);
  });
});

describe('PCK', () => {
  // refs 10 and 20, alpha 0.5 -> thresholds 5 and 10
  const target = [0, 0, 10, 10, 20, 20, /**/ 0, 0, 0, 0, 0, 0];
  const predicted = [3, 4, 10, 16, 100, 100, /**/ 6, 8, 0, 11, 1, 0];
  const visible = [1, 1, 0, 1, 1, 1];

  it('matches the hand-computed example, skipping invisible keypoints', () => {
    const r = pck({ predicted, target, visible, numKeypoints: 3, referenceSizes: [10, 20], alpha: 0.5 });
    // correct: (0,0) d=5 <= 5, (1,0) d=10 <= 10, (1,2) d=1; wrong: (0,1) d=6, (1,1) d=11; (0,2) invisible
    expect(r.pck).toBeCloseTo(3 / 5, 12);
    expect([...r.perJoint]).toEqual([1, 0, 1]);
    expect(r.visibleCount).toBe(5);
  });

  it('accepts one reference size for all and reports NaN when nothing is visible', () => {
    expect(pck({ predicted, target, visible, numKeypoints: 3, referenceSizes: 20, alpha: 0.5 }).pck).toBeCloseTo(4 / 5, 12);
    const none = pck({ predicted, target, visible: [0, 0, 0, 0, 0, 0], numKeypoints: 3, referenceSizes: 10 });
    expect(none.pck).toBeNaN();
    expect([...none.perJoint].every(Number.isNaN)).toBe(true);
    expect(pck({ predicted: [], target: [], visible: [], numKeypoints: 3, referenceSizes: [] }).pck).toBeNaN();
  });

  it('rejects inconsistent sizes', () => {
    expect(() => pck({ predicted, target, visible: [1, 1, 1, 1], numKeypoints: 3, referenceSizes: 1 })).toThrow(/4 visibility flags/);
    expect(() => pck({ predicted, target, visible, numKeypoints: 3, referenceSizes: [1] })).toThrow(/1 reference sizes for 2 instances/);
  });
});

describe('metrics on the synthetic tasks', () => {
  const mnist = loadDataset('mnist', 'test');

  it('score perfect predictions as perfect', () => {
    const seg = createSegmentationTask(mnist, { count: 8, seed: 1, ignoreBoundary: true });
    const cm = new ConfusionMatrix(seg.numClasses);
    for (let i = 0; i < seg.length; i++) cm.update(seg.get(i).target.labels, seg.get(i).target.labels);
    expect(cm.meanIoU()).toBe(1);

    const det = createDetectionTask(mnist, { count: 8, seed: 1 });
    const gts: GroundTruthBox[] = [];
    for (let i = 0; i < det.length; i++) {
      const { boxes, classes } = det.get(i).target;
      classes.forEach((classId, b) => gts.push({ image: i, classId, box: boxes.subarray(4 * b, 4 * b + 4) }));
    }
    expect(meanAveragePrecision(gts.map((g) => ({ ...g, score: 1 })), gts).map).toBe(1);

    const { keypoints, visible, referenceSize } = createPoseTask(mnist, { count: 1 }).get(0).target;
    expect(pck({ predicted: keypoints, target: keypoints, visible, numKeypoints: 14, referenceSizes: [referenceSize] }).pck).toBe(1);
  });
});
