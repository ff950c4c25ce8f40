// mAP at an IoU threshold (default 0.5), PASCAL VOC style (VOC2010+ devkit, VOCevaldet.m):
//  - per class, detections are visited by descending score (ties keep input order); each is compared with
//    every ground-truth box of its image and class, and the one with the highest IoU decides: IoU >= the
//    threshold and that box not yet matched -> true positive (the box is now matched); already matched, or
//    IoU below the threshold -> false positive; the best box is 'difficult' -> the detection is ignored;
//  - AP is the area under the precision/recall curve with precision made monotone (all-point
//    interpolation); a class with ground truth but no detections has AP 0;
//  - classes without any non-difficult ground truth are left out of the mean (their detections too);
//    the mean of no classes is NaN.
// Boxes are [x1, y1, x2, y2] in continuous coordinates, so area = (x2 - x1)(y2 - y1), with no VOC "+1".

import { boxIoU } from '../data/glyphs.ts';

export interface ScoredDetection {
  image: number;
  classId: number;
  score: number;
  box: ArrayLike<number>;
}

export interface GroundTruthBox {
  image: number;
  classId: number;
  box: ArrayLike<number>;
  difficult?: boolean;
}

export interface MeanAPResult {
  map: number;
  /** AP per class that has non-difficult ground truth, by class id. */
  perClass: Map<number, number>;
}

export { boxIoU };

/** All-point interpolated AP from a PR curve ordered by descending score. */
export function averagePrecision(recall: ArrayLike<number>, precision: ArrayLike<number>): number {
  const n = recall.length;
  const mrec = [0, ...Array.from(recall), 1];
  const mpre = [0, ...Array.from(precision), 0];
  for (let i = n; i >= 0; i--) mpre[i] = Math.max(mpre[i], mpre[i + 1]);
  let ap = 0;
  for (let i = 1; i <= n + 1; i++) if (mrec[i] !== mrec[i - 1]) ap += (mrec[i] - mrec[i - 1]) * mpre[i];
  return ap;
}

function classAP(dets: ScoredDetection[], gts: GroundTruthBox[], iouThreshold: number): number {
  const byImage = new Map<number, GroundTruthBox[]>();
  for (const g of gts) byImage.set(g.image, [...(byImage.get(g.image) ?? []), g]);
  const matched = new Set<GroundTruthBox>();
  const positives = gts.filter((g) => !g.difficult).length;
  const order = dets.map((d, i) => [d, i] as const).sort((a, b) => b[0].score - a[0].score || a[1] - b[1]);
  const recall: number[] = [];
  const precision: number[] = [];
  let tp = 0;
  let fp = 0;
  for (const [det] of order) {
    let best: GroundTruthBox | undefined;
    let bestIoU = -Infinity;
    for (const g of byImage.get(det.image) ?? []) {
      const iou = boxIoU(Array.from(det.box), Array.from(g.box));
      if (iou > bestIoU) [best, bestIoU] = [g, iou];
    }
    if (best && bestIoU >= iouThreshold) {
      if (best.difficult) continue;
      if (matched.has(best)) fp++;
      else (matched.add(best), tp++);
    } else {
      fp++;
    }
    recall.push(tp / positives);
    precision.push(tp / (tp + fp));
  }
  return averagePrecision(recall, precision);
}

export function meanAveragePrecision(
  detections: readonly ScoredDetection[], groundTruths: readonly GroundTruthBox[], iouThreshold = 0.5,
): MeanAPResult {
  for (const [what, list] of [['detection', detections], ['ground truth', groundTruths]] as const) {
    list.forEach((b, i) => {
      if (b.box.length !== 4 || !(b.box[2] >= b.box[0] && b.box[3] >= b.box[1])) {
        throw new Error(`meanAveragePrecision: ${what} ${i} has box [${Array.from(b.box)}], expected [x1, y1, x2, y2] with x2 >= x1, y2 >= y1`);
      }
    });
  }
  const classes = [...new Set(groundTruths.filter((g) => !g.difficult).map((g) => g.classId))].sort((a, b) => a - b);
  const perClass = new Map<number, number>();
  for (const c of classes) {
    perClass.set(c, classAP(
      detections.filter((d) => d.classId === c), groundTruths.filter((g) => g.classId === c), iouThreshold,
    ));
  }
  const aps = [...perClass.values()];
  return { map: aps.length === 0 ? NaN : aps.reduce((a, b) => a + b, 0) / aps.length, perClass };
}
