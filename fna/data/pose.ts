// Synthetic pose estimation: one articulated stick figure per 64x64 image, over 0..2 dimmed real glyphs
// (pasted at 60% intensity, anywhere) as clutter. Sample i is seeded by Rng.derive(seed, i).
//
// The figure faces the viewer, so its left side is on the image's right (+x) when upright. With
// f ~ U(0.8, 1.1) a size factor, tilt ~ U(-20, 20) degrees, up = (sin tilt, -cos tilt) and
// side = (cos tilt, sin tilt) (towards the figure's left), in pixels x f:
//   neck: the root;  head: neck + 6 up (a filled disc of radius 3.5);  mid-hip: neck - 16 up
//   shoulders: neck +- 6 side;  hips: mid-hip +- 4 side (left = +)
//   limbs: direction (sin a, cos a) points down at a = -tilt and turns to the figure's left as a grows;
//     left limbs use a = -tilt + outward, right limbs a = -tilt - outward (mirror images)
//     upper arm 9, outward U(10, 170) deg; forearm 8, outward = upper arm's + U(-120, 20) deg
//     thigh 11, outward U(0, 45) deg; shin 10, outward = thigh's + U(-40, 5) deg
// Bones are drawn antialiased, 2.2 f wide; the whole figure lies at least 2 px inside the canvas.
// Targets: the 14 joints below as continuous (x, y) (pixel-edge convention, types.ts), visible = 1 when
// the joint lies inside the image (always, before augmentation), referenceSize = torso length 16 f
// (neck to mid-hip), the usual PCK reference for full-body pose.

import type { GlyphDataset } from './datasets.ts';
import { fillValue, normaliseGrey, pasteGlyphs, scatterGlyphs } from './glyphs.ts';
import { Rng } from './rng.ts';
import { type Dataset, DEFAULT_NORMALISATION, type Normalisation, type PoseTarget, type Sample, checkIndex } from './types.ts';

export const POSE_JOINTS = [
  'head', 'neck', 'left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist',
  'left_hip', 'right_hip', 'left_knee', 'right_knee', 'left_ankle', 'right_ankle',
] as const;
export const POSE_FLIP_PAIRS: readonly (readonly [number, number])[] = [[2, 3], [4, 5], [6, 7], [8, 9], [10, 11], [12, 13]];
/** Pairs of joint indices joined by a bone; -1 stands for the mid-hip point (not a keypoint). */
const BONES: readonly [number, number][] = [
  [1, 0], [1, 2], [1, 3], [2, 4], [4, 6], [3, 5], [5, 7], [1, -1], [8, 9], [8, 10], [10, 12], [9, 11], [11, 13],
];
const HEAD_RADIUS = 3.5;
const BONE_WIDTH = 2.2;
const MARGIN = 2;
const DISTRACTOR_INTENSITY = 0.6;
const deg = Math.PI / 180;

export interface PoseOptions {
  count: number;
  seed?: number;
  canvasSize?: number;
  maxDistractors?: number;
  normalisation?: Normalisation;
}

interface Figure {
  joints: Float64Array; // K x 2
  midHip: [number, number];
  scale: number;
}

function drawFigureGeometry(rng: Rng): Figure {
  const f = rng.uniform(0.8, 1.1);
  const tilt = rng.uniform(-20, 20) * deg;
  const up = [Math.sin(tilt), -Math.cos(tilt)];
  const side = [Math.cos(tilt), Math.sin(tilt)];
  const j = new Float64Array(POSE_JOINTS.length * 2);
  const set = (k: number, x: number, y: number) => ((j[2 * k] = x), (j[2 * k + 1] = y));
  const along = (k: number, from: number, length: number, angle: number) =>
    set(k, j[2 * from] + length * f * Math.sin(angle), j[2 * from + 1] + length * f * Math.cos(angle));
  set(1, 0, 0);
  set(0, 6 * f * up[0], 6 * f * up[1]);
  const midHip: [number, number] = [-16 * f * up[0], -16 * f * up[1]];
  for (const [k, sign] of [[2, 1], [3, -1]]) set(k, sign * 6 * f * side[0], sign * 6 * f * side[1]);
  for (const [k, sign] of [[8, 1], [9, -1]]) set(k, midHip[0] + sign * 4 * f * side[0], midHip[1] + sign * 4 * f * side[1]);
  for (const sign of [1, -1]) {
    const o = sign === 1 ? 0 : 1; // left joints have even offsets from the pair base
    const upperArm = rng.uniform(10, 170) * deg;
    const forearm = upperArm + rng.uniform(-120, 20) * deg;
    const thigh = rng.uniform(0, 45) * deg;
    const shin = thigh + rng.uniform(-40, 5) * deg;
    along(4 + o, 2 + o, 9, -tilt + sign * upperArm);
    along(6 + o, 4 + o, 8, -tilt + sign * forearm);
    along(10 + o, 8 + o, 11, -tilt + sign * thigh);
    along(12 + o, 10 + o, 10, -tilt + sign * shin);
  }
  return { joints: j, midHip, scale: f };
}

/** Moves the figure (built around neck = 0) to a random spot that keeps all ink MARGIN px inside. */
function placeFigure(rng: Rng, figure: Figure, canvasSize: number): void {
  const { joints, midHip, scale } = figure;
  const reach = Math.max(HEAD_RADIUS, BONE_WIDTH / 2) * scale + 1;
  let [x1, y1, x2, y2] = [Infinity, Infinity, -Infinity, -Infinity];
  for (let k = 0; k < joints.length / 2; k++) {
    x1 = Math.min(x1, joints[2 * k]);
    x2 = Math.max(x2, joints[2 * k]);
    y1 = Math.min(y1, joints[2 * k + 1]);
    y2 = Math.max(y2, joints[2 * k + 1]);
  }
  const shift = (lo: number, hi: number) => {
    const min = MARGIN + reach - lo;
    const max = canvasSize - MARGIN - reach - hi;
    return max >= min ? rng.uniform(min, max) : (min + max) / 2;
  };
  const dx = shift(x1, x2);
  const dy = shift(y1, y2);
  for (let k = 0; k < joints.length / 2; k++) ((joints[2 * k] += dx), (joints[2 * k + 1] += dy));
  midHip[0] += dx;
  midHip[1] += dy;
}

function distanceToSegment(px: number, py: number, ax: number, ay: number, bx: number, by: number): number {
  const vx = bx - ax;
  const vy = by - ay;
  const lengthSq = vx * vx + vy * vy;
  const t = lengthSq > 0 ? Math.min(1, Math.max(0, ((px - ax) * vx + (py - ay) * vy) / lengthSq)) : 0;
  return Math.hypot(px - ax - t * vx, py - ay - t * vy);
}

function rasterFigure(grey: Uint8Array, canvasSize: number, figure: Figure): void {
  const { joints, midHip, scale } = figure;
  const point = (k: number) => (k < 0 ? midHip : [joints[2 * k], joints[2 * k + 1]]);
  const half = (BONE_WIDTH * scale) / 2;
  const radius = HEAD_RADIUS * scale;
  for (let i = 0; i < canvasSize; i++) {
    for (let jx = 0; jx < canvasSize; jx++) {
      const px = jx + 0.5;
      const py = i + 0.5;
      let coverage = Math.min(1, Math.max(0, radius + 0.5 - Math.hypot(px - joints[0], py - joints[1])));
      for (const [a, b] of BONES) {
        const [ax, ay] = point(a);
        const [bx, by] = point(b);
        coverage = Math.max(coverage, Math.min(1, half + 0.5 - distanceToSegment(px, py, ax, ay, bx, by)));
      }
      const v = Math.round(255 * coverage);
      if (v > grey[i * canvasSize + jx]) grey[i * canvasSize + jx] = v;
    }
  }
}

export function createPoseTask(source: GlyphDataset, options: PoseOptions): Dataset<PoseTarget> {
  const seed = options.seed ?? 0;
  const size = options.canvasSize ?? 64;
  const maxDistractors = options.maxDistractors ?? 2;
  const norm = options.normalisation ?? DEFAULT_NORMALISATION;
  if (!Number.isInteger(options.count) || options.count < 0) {
    throw new Error(`createPoseTask: count must be a non-negative integer, got ${options.count}`);
  }
  if (size < 56) throw new Error(`createPoseTask: canvasSize ${size} is too small for the figure; need >= 56`);
  return {
    length: options.count,
    imageShape: [norm.channels, size, size],
    numClasses: POSE_JOINTS.length,
    classNames: POSE_JOINTS,
    fill: fillValue(norm),
    keypointFlipPairs: POSE_FLIP_PAIRS,
    get(index: number): Sample<PoseTarget> {
      checkIndex('pose task', index, options.count);
      const rng = Rng.derive(seed, index);
      const grey = new Uint8Array(size * size);
      const clutter = scatterGlyphs(rng, source, {
        canvasSize: size, minGlyphs: 0, maxGlyphs: maxDistractors, scaleRange: [0.75, 1.25], maxOverlapIoU: 1,
      });
      pasteGlyphs(grey, size, clutter, DISTRACTOR_INTENSITY);
      const figure = drawFigureGeometry(rng);
      placeFigure(rng, figure, size);
      rasterFigure(grey, size, figure);
      const keypoints = Float32Array.from(figure.joints);
      const visible = new Uint8Array(POSE_JOINTS.length);
      for (let k = 0; k < visible.length; k++) {
        const [x, y] = [keypoints[2 * k], keypoints[2 * k + 1]];
        visible[k] = x >= 0 && x < size && y >= 0 && y < size ? 1 : 0;
      }
      return {
        image: normaliseGrey(grey, norm),
        target: { kind: 'pose', keypoints, visible, referenceSize: 16 * figure.scale },
      };
    },
  };
}
