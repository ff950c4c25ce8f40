// What every dataset yields. Coordinates (boxes, keypoints) are continuous pixel coordinates: pixel
// (row i, column j) covers [j, j+1) x [i, i+1), so its centre is (j + 0.5, i + 0.5) and a horizontal flip
// of an image of width W maps x to W - x.

export const IGNORE_LABEL = 255;

export interface ClassTarget {
  kind: 'class';
  label: number;
}

/** Per-pixel class ids, H x W; 0 is background, IGNORE_LABEL is ignored by losses and metrics. */
export interface SegmentationTarget {
  kind: 'segmentation';
  labels: Uint8Array;
}

/** boxes: n x [x1, y1, x2, y2] (x2 > x1, y2 > y1); classes: n class ids (no background class). */
export interface DetectionTarget {
  kind: 'detection';
  boxes: Float32Array;
  classes: Int32Array;
}

/** keypoints: K x [x, y]; visible[k] is 0 where the joint is outside the image. */
export interface PoseTarget {
  kind: 'pose';
  keypoints: Float32Array;
  visible: Uint8Array;
  /** The PCK reference length in pixels (the task documents which one). */
  referenceSize: number;
}

export type Target = ClassTarget | SegmentationTarget | DetectionTarget | PoseTarget;

export interface Sample<T extends Target = Target> {
  /** Normalised float32, C x H x W. */
  image: Float32Array;
  target: T;
}

export interface Dataset<T extends Target = Target> {
  readonly length: number;
  /** [C, H, W] */
  readonly imageShape: readonly [number, number, number];
  readonly numClasses: number;
  readonly classNames: readonly string[];
  /** The normalised value of an empty (zero) pixel: what padding uses. */
  readonly fill: number;
  /** Pose only: pairs of keypoint indices that swap under a horizontal flip (left <-> right). */
  readonly keypointFlipPairs?: readonly (readonly [number, number])[];
  /** Deterministic: the same index always gives the same sample. */
  get(index: number): Sample<T>;
}

export interface Normalisation {
  /** Applied to pixel / 255. */
  mean: number;
  std: number;
  /** 1 keeps the grey channel; 3 repeats it (the MobileNetV2 stem expects 3). */
  channels: 1 | 3;
}

export const DEFAULT_NORMALISATION: Normalisation = { mean: 0.5, std: 0.5, channels: 3 };

export function checkIndex(name: string, index: number, length: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= length) {
    throw new Error(`${name}.get: index ${index} out of range [0, ${length})`);
  }
}
