// SSD anchors, matching and box coding (CPU; the targets are uploaded once per batch).
// Boxes are [x1, y1, x2, y2] in pixels; anchors are stored as [cx, cy, w, h].
// Coding uses SSD's variances (0.1 for centres, 0.2 for sizes).

export interface AnchorLevel {
  /** Feature map size and its stride in input pixels. */
  height: number;
  width: number;
  stride: number;
  /** Anchor side for aspect ratio 1, and the extra sqrt(size * nextSize) anchor (SSD). */
  size: number;
  nextSize: number;
  ratios: readonly number[];
}

/** Anchors per position for a level: one per ratio plus the extra ratio-1 anchor. */
export const anchorsPerPosition = (ratios: readonly number[]): number => ratios.length + 1;

/**
 * SSD scales: sizes spread linearly over [minRatio, maxRatio] of the input side across levels
 * (mmdet's SSD with ratio range (0.2, 0.95) is the FNA SSDLite setting).
 */
export function ssdLevels(
  inputSize: number,
  maps: { height: number; width: number; stride: number }[],
  { minRatio = 0.2, maxRatio = 0.95, ratios = [1, 2, 0.5] }: { minRatio?: number; maxRatio?: number; ratios?: number[] } = {},
): AnchorLevel[] {
  const m = maps.length;
  const sizes = maps.map((_, k) => inputSize * (minRatio + ((maxRatio - minRatio) * k) / Math.max(1, m - 1)));
  const next = [...sizes.slice(1), inputSize * Math.min(1, maxRatio + (maxRatio - minRatio) / Math.max(1, m - 1))];
  return maps.map((map, k) => ({ ...map, size: sizes[k], nextSize: next[k], ratios }));
}

/** All anchors, level by level, position by position (row-major), anchor by anchor: [A, 4] as cx, cy, w, h. */
export function generateAnchors(levels: AnchorLevel[]): Float32Array {
  const total = levels.reduce((s, l) => s + l.height * l.width * anchorsPerPosition(l.ratios), 0);
  const out = new Float32Array(total * 4);
  let k = 0;
  for (const l of levels) {
    const shapes: [number, number][] = l.ratios.map((r) => [l.size * Math.sqrt(r), l.size / Math.sqrt(r)]);
    const extra = Math.sqrt(l.size * l.nextSize);
    shapes.splice(1, 0, [extra, extra]);
    for (let y = 0; y < l.height; y++) {
      for (let x = 0; x < l.width; x++) {
        for (const [w, h] of shapes) {
          out.set([(x + 0.5) * l.stride, (y + 0.5) * l.stride, w, h], 4 * k++);
        }
      }
    }
  }
  return out;
}

function iouAnchorBox(a: Float32Array, i: number, b: ArrayLike<number>, j: number): number {
  const ax1 = a[4 * i] - a[4 * i + 2] / 2;
  const ay1 = a[4 * i + 1] - a[4 * i + 3] / 2;
  const ax2 = ax1 + a[4 * i + 2];
  const ay2 = ay1 + a[4 * i + 3];
  const [bx1, by1, bx2, by2] = [b[4 * j], b[4 * j + 1], b[4 * j + 2], b[4 * j + 3]];
  const iw = Math.max(0, Math.min(ax2, bx2) - Math.max(ax1, bx1));
  const ih = Math.max(0, Math.min(ay2, by2) - Math.max(ay1, by1));
  const inter = iw * ih;
  const union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter;
  return union > 0 ? inter / union : 0;
}

export interface MatchResult {
  /** Per anchor: -1 ignored, 0 background, c + 1 for a match to a box of class c. */
  labels: Int32Array;
  /** Per anchor: encoded regression target (zeros where not positive). */
  regression: Float32Array;
  positives: number;
}

/**
 * Anchors with IoU >= posIoU to a box are positive (best box wins); each box's best anchor is positive
 * too, so every box is learnt; IoU < negIoU is background; in between is ignored.
 */
export function matchAnchors(anchors: Float32Array, boxes: Float32Array, classes: Int32Array, posIoU = 0.5, negIoU = 0.4): MatchResult {
  const A = anchors.length / 4;
  const B = classes.length;
  const bestBox = new Int32Array(A).fill(-1);
  const bestIoU = new Float32Array(A);
  const forced = new Int32Array(B).fill(-1);
  const forcedIoU = new Float32Array(B).fill(-1);
  for (let i = 0; i < A; i++) {
    for (let j = 0; j < B; j++) {
      const iou = iouAnchorBox(anchors, i, boxes, j);
      if (iou > bestIoU[i]) {
        bestIoU[i] = iou;
        bestBox[i] = j;
      }
      if (iou > forcedIoU[j]) {
        forcedIoU[j] = iou;
        forced[j] = i;
      }
    }
  }
  const labels = new Int32Array(A);
  for (let i = 0; i < A; i++) labels[i] = bestIoU[i] >= posIoU ? classes[bestBox[i]] + 1 : bestIoU[i] < negIoU ? 0 : -1;
  for (let j = 0; j < B; j++) {
    if (forced[j] >= 0 && forcedIoU[j] > 0) {
      labels[forced[j]] = classes[j] + 1;
      bestBox[forced[j]] = j;
    }
  }
  const regression = new Float32Array(A * 4);
  let positives = 0;
  for (let i = 0; i < A; i++) {
    if (labels[i] <= 0) continue;
    positives++;
    regression.set(encodeBox(anchors, i, boxes, bestBox[i]), 4 * i);
  }
  return { labels, regression, positives };
}

const VAR_CENTRE = 0.1;
const VAR_SIZE = 0.2;

export function encodeBox(anchors: Float32Array, i: number, boxes: ArrayLike<number>, j: number): [number, number, number, number] {
  const [acx, acy, aw, ah] = [anchors[4 * i], anchors[4 * i + 1], anchors[4 * i + 2], anchors[4 * i + 3]];
  const [x1, y1, x2, y2] = [boxes[4 * j], boxes[4 * j + 1], boxes[4 * j + 2], boxes[4 * j + 3]];
  return [((x1 + x2) / 2 - acx) / aw / VAR_CENTRE, ((y1 + y2) / 2 - acy) / ah / VAR_CENTRE, Math.log((x2 - x1) / aw) / VAR_SIZE, Math.log((y2 - y1) / ah) / VAR_SIZE];
}

export function decodeBox(anchors: Float32Array, i: number, d: ArrayLike<number>, o: number): [number, number, number, number] {
  const [acx, acy, aw, ah] = [anchors[4 * i], anchors[4 * i + 1], anchors[4 * i + 2], anchors[4 * i + 3]];
  const cx = acx + d[o] * VAR_CENTRE * aw;
  const cy = acy + d[o + 1] * VAR_CENTRE * ah;
  // Clamp the log-size so a wild prediction cannot overflow exp.
  const w = aw * Math.exp(Math.min(d[o + 2] * VAR_SIZE, 4));
  const h = ah * Math.exp(Math.min(d[o + 3] * VAR_SIZE, 4));
  return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2];
}

export interface Detection {
  box: [number, number, number, number];
  score: number;
  classId: number;
}

function iou(a: readonly number[], b: readonly number[]): number {
  const iw = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const ih = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = iw * ih;
  const union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
  return union > 0 ? inter / union : 0;
}

/** Greedy per-class non-maximum suppression. */
export function nms(dets: Detection[], iouThreshold = 0.45, maxDetections = 100): Detection[] {
  const sorted = [...dets].sort((a, b) => b.score - a.score);
  const kept: Detection[] = [];
  for (const d of sorted) {
    if (kept.length >= maxDetections) break;
    if (kept.every((k) => k.classId !== d.classId || iou(k.box, d.box) <= iouThreshold)) kept.push(d);
  }
  return kept;
}

/** Decodes one image's [A, C] class logits (sigmoid) and [A, 4] regression into NMS-ed detections. */
export function decodeDetections(
  anchors: Float32Array,
  logits: ArrayLike<number>,
  regression: ArrayLike<number>,
  numClasses: number,
  { scoreThreshold = 0.05, iouThreshold = 0.45, maxDetections = 100, topK = 400 } = {},
): Detection[] {
  const A = anchors.length / 4;
  const candidates: Detection[] = [];
  for (let i = 0; i < A; i++) {
    for (let c = 0; c < numClasses; c++) {
      const score = 1 / (1 + Math.exp(-logits[i * numClasses + c]));
      if (score >= scoreThreshold) candidates.push({ box: decodeBox(anchors, i, regression, 4 * i), score, classId: c });
    }
  }
  candidates.sort((a, b) => b.score - a.score);
  return nms(candidates.slice(0, topK), iouThreshold, maxDetections);
}
