// Geometric augmentation with matching target transforms. Both ops keep the image size.
//  - hflip: x -> W - x for boxes and keypoints (pixel-edge coordinates), label rows reversed, and
//    left/right keypoints swapped (a mirrored left arm is a right arm).
//  - scaleCrop(s, ox, oy): scale the image by s, then take the W x H window whose top-left corner is at
//    (ox, oy) in the scaled image; a point x maps to x * s - ox. Output pixel centre u + 0.5 therefore
//    samples the source at (u + 0.5 + ox) / s - 0.5 in pixel-index coordinates. Images are bilinear,
//    labels nearest; outside the source, images take the dataset's fill and labels IGNORE_LABEL.
//    Boxes are clipped to the window and dropped when under 1 px wide/high or when less than
//    `minBoxVisible` of their area remains; keypoints outside the window become invisible.

import type { Rng } from './rng.ts';
import { IGNORE_LABEL, type Sample, type Target } from './types.ts';

export interface AugmentOptions {
  /** Probability of a horizontal flip (0 disables). */
  flipProbability?: number;
  /** Scale factor range for random scale + crop; omit to disable. */
  scaleRange?: readonly [number, number];
  minBoxVisible?: number;
}

export interface ImageGeometry {
  channels: number;
  height: number;
  width: number;
  fill: number;
  flipPairs?: readonly (readonly [number, number])[];
}

export function hflip<T extends Target>(sample: Sample<T>, g: ImageGeometry): Sample<T> {
  const { channels, height, width } = g;
  const image = new Float32Array(sample.image.length);
  for (let r = 0; r < channels * height; r++) {
    for (let c = 0; c < width; c++) image[r * width + c] = sample.image[r * width + width - 1 - c];
  }
  return { image, target: flipTarget(sample.target, g) as T };
}

function flipTarget(t: Target, g: ImageGeometry): Target {
  const w = g.width;
  switch (t.kind) {
    case 'class':
      return t;
    case 'segmentation': {
      const labels = new Uint8Array(t.labels.length);
      for (let r = 0; r < g.height; r++) for (let c = 0; c < w; c++) labels[r * w + c] = t.labels[r * w + w - 1 - c];
      return { kind: 'segmentation', labels };
    }
    case 'detection': {
      const boxes = new Float32Array(t.boxes.length);
      for (let b = 0; b < boxes.length; b += 4) {
        boxes[b] = w - t.boxes[b + 2];
        boxes[b + 1] = t.boxes[b + 1];
        boxes[b + 2] = w - t.boxes[b];
        boxes[b + 3] = t.boxes[b + 3];
      }
      return { kind: 'detection', boxes, classes: t.classes.slice() };
    }
    case 'pose': {
      const keypoints = t.keypoints.slice();
      const visible = t.visible.slice();
      for (let k = 0; k < visible.length; k++) keypoints[2 * k] = w - keypoints[2 * k];
      for (const [a, b] of g.flipPairs ?? []) {
        for (const [arr, stride] of [[keypoints, 2], [visible, 1]] as const) {
          for (let d = 0; d < stride; d++) {
            const tmp = arr[a * stride + d];
            arr[a * stride + d] = arr[b * stride + d];
            arr[b * stride + d] = tmp;
          }
        }
      }
      return { kind: 'pose', keypoints, visible, referenceSize: t.referenceSize };
    }
  }
}

export function scaleCrop<T extends Target>(
  sample: Sample<T>, g: ImageGeometry, scale: number, ox: number, oy: number, minBoxVisible = 0.25,
): Sample<T> {
  if (!(scale > 0)) throw new Error(`scaleCrop: scale must be > 0, got ${scale}`);
  const { channels, height, width } = g;
  const image = new Float32Array(sample.image.length);
  const srcCoord = (u: number, offset: number) => (u + 0.5 + offset) / scale - 0.5;
  for (let v = 0; v < height; v++) {
    const sy = srcCoord(v, oy);
    for (let u = 0; u < width; u++) {
      const sx = srcCoord(u, ox);
      for (let c = 0; c < channels; c++) {
        image[(c * height + v) * width + u] = bilinear(sample.image, c * height * width, width, height, sx, sy, g.fill);
      }
    }
  }
  return { image, target: scaleCropTarget(sample.target, g, scale, ox, oy, minBoxVisible) as T };
}

/** Samples a plane at (x, y) in pixel-index coordinates; neighbours outside the plane read `fill`. */
function bilinear(src: Float32Array, base: number, w: number, h: number, x: number, y: number, fill: number): number {
  const x0 = Math.floor(x);
  const y0 = Math.floor(y);
  const fx = x - x0;
  const fy = y - y0;
  const at = (xx: number, yy: number) => (xx < 0 || yy < 0 || xx >= w || yy >= h ? fill : src[base + yy * w + xx]);
  return (at(x0, y0) * (1 - fx) + at(x0 + 1, y0) * fx) * (1 - fy) + (at(x0, y0 + 1) * (1 - fx) + at(x0 + 1, y0 + 1) * fx) * fy;
}

function scaleCropTarget(t: Target, g: ImageGeometry, s: number, ox: number, oy: number, minBoxVisible: number): Target {
  const { width: w, height: h } = g;
  switch (t.kind) {
    case 'class':
      return t;
    case 'segmentation': {
      const labels = new Uint8Array(t.labels.length);
      for (let v = 0; v < h; v++) {
        const sy = Math.floor((v + 0.5 + oy) / s);
        for (let u = 0; u < w; u++) {
          const sx = Math.floor((u + 0.5 + ox) / s);
          labels[v * w + u] = sx < 0 || sy < 0 || sx >= w || sy >= h ? IGNORE_LABEL : t.labels[sy * w + sx];
        }
      }
      return { kind: 'segmentation', labels };
    }
    case 'detection': {
      const boxes: number[] = [];
      const classes: number[] = [];
      for (let b = 0; b < t.classes.length; b++) {
        const [x1, y1, x2, y2] = [0, 1, 2, 3].map((k) => t.boxes[4 * b + k] * s - (k % 2 === 0 ? ox : oy));
        const [cx1, cy1, cx2, cy2] = [Math.max(0, x1), Math.max(0, y1), Math.min(w, x2), Math.min(h, y2)];
        const kept = (cx2 - cx1) * (cy2 - cy1);
        if (cx2 - cx1 < 1 || cy2 - cy1 < 1 || kept < minBoxVisible * (x2 - x1) * (y2 - y1)) continue;
        boxes.push(cx1, cy1, cx2, cy2);
        classes.push(t.classes[b]);
      }
      return { kind: 'detection', boxes: Float32Array.from(boxes), classes: Int32Array.from(classes) };
    }
    case 'pose': {
      const keypoints = new Float32Array(t.keypoints.length);
      const visible = new Uint8Array(t.visible.length);
      for (let k = 0; k < visible.length; k++) {
        const x = t.keypoints[2 * k] * s - ox;
        const y = t.keypoints[2 * k + 1] * s - oy;
        keypoints[2 * k] = x;
        keypoints[2 * k + 1] = y;
        visible[k] = t.visible[k] && x >= 0 && x < w && y >= 0 && y < h ? 1 : 0;
      }
      return { kind: 'pose', keypoints, visible, referenceSize: t.referenceSize * s };
    }
  }
}

/** Random flip, then random scale + crop, each drawn from `rng` in that order. */
export function augment<T extends Target>(sample: Sample<T>, g: ImageGeometry, rng: Rng, options: AugmentOptions): Sample<T> {
  let out = sample;
  if ((options.flipProbability ?? 0) > 0 && rng.bernoulli(options.flipProbability ?? 0)) out = hflip(out, g);
  if (options.scaleRange) {
    const s = rng.uniform(options.scaleRange[0], options.scaleRange[1]);
    // The window may start anywhere that keeps it inside the scaled image (or, when s < 1, anywhere that
    // keeps the scaled image inside the window).
    const spanX = Math.round(g.width * s) - g.width;
    const spanY = Math.round(g.height * s) - g.height;
    const ox = Math.min(0, spanX) + rng.int(Math.abs(spanX) + 1);
    const oy = Math.min(0, spanY) + rng.int(Math.abs(spanY) + 1);
    out = scaleCrop(out, g, s, ox, oy, options.minBoxVisible);
  }
  return out;
}
