import { describe, expect, it } from 'vitest';
import {
  type DetectionTarget, IGNORE_LABEL, type ImageGeometry, POSE_FLIP_PAIRS, POSE_JOINTS, type PoseTarget, type Sample,
  createClassificationTask, createDetectionTask, createPoseTask, createSegmentationTask, glyph, glyphScene, hflip,
  loadDataset, nonzeroBox, resolveGlyphOptions, scaleCrop,
} from '../fna/data/index.ts';
import { glyphAt } from '../fna/data/glyphs.ts';

const mnist = loadDataset('mnist', 'train');
const SIZE = 64;
const geometry = (channels = 3, flipPairs = POSE_FLIP_PAIRS): ImageGeometry => ({ channels, height: SIZE, width: SIZE, fill: -1, flipPairs });
/** Back from the default normalisation ((p/255 - 0.5) / 0.5) to 0..255, first channel. */
const grey = (image: Float32Array, size = SIZE) => Array.from(image.subarray(0, size * size), (v) => Math.round((v * 0.5 + 0.5) * 255));
/** Element-wise equality with a readable failure (vitest's deep toEqual is slow on large typed arrays). */
function expectSame(actual: ArrayLike<number>, expected: ArrayLike<number>): void {
  expect(actual.length).toBe(expected.length);
  const i = Array.prototype.findIndex.call(actual, (v: number, k: number) => !Object.is(v, expected[k]));
  expect(i < 0 ? 'equal' : `first difference at ${i}: ${actual[i]} vs ${expected[i]}`).toBe('equal');
}

describe('segmentation task', () => {
  it('labels a single unscaled glyph exactly where its MNIST pixels are >= 128', () => {
    const options = { count: 20, seed: 11, minGlyphs: 1, maxGlyphs: 1, scaleRange: [1, 1] as const };
    const seg = createSegmentationTask(mnist, options);
    const det = createDetectionTask(mnist, options);
    for (let i = 0; i < options.count; i++) {
      const { labels } = seg.get(i).target;
      const { boxes, classes } = det.get(i).target;
      const source = glyphScene(mnist, resolveGlyphOptions(options), i).glyphs[0].sourceIndex;
      const raw = glyph(mnist, source);
      const local = nonzeroBox(raw, 28)!;
      const [dx, dy] = [boxes[0] - local[0], boxes[1] - local[1]]; // where the 28x28 glyph was pasted
      expect(classes[0]).toBe(mnist.labels[source]);
      const expected = new Uint8Array(SIZE * SIZE);
      for (let r = 0; r < SIZE; r++) {
        for (let c = 0; c < SIZE; c++) {
          const [gr, gc] = [r - dy, c - dx];
          const inside = gr >= 0 && gc >= 0 && gr < 28 && gc < 28;
          expected[r * SIZE + c] = inside && raw[gr * 28 + gc] >= 128 ? mnist.labels[source] + 1 : 0;
        }
      }
      expectSame(labels, expected);
    }
  });

  it('gives each labelled pixel the class of the last glyph covering it, and ignores the ink fringe', () => {
    const options = { count: 30, seed: 5, ignoreBoundary: true };
    const seg = createSegmentationTask(mnist, options);
    expect(seg.numClasses).toBe(11);
    for (let i = 0; i < options.count; i++) {
      const { image, target } = seg.get(i);
      const { glyphs } = glyphScene(mnist, resolveGlyphOptions(options), i);
      const expectedInk = new Array<number>(SIZE * SIZE);
      const expectedLabels = new Uint8Array(SIZE * SIZE);
      for (let p = 0; p < SIZE * SIZE; p++) {
        const [r, c] = [Math.floor(p / SIZE), p % SIZE];
        const covering = glyphs.filter((g) => glyphAt(g, r, c) >= 128);
        expectedInk[p] = Math.max(0, ...glyphs.map((g) => glyphAt(g, r, c)));
        if (covering.length > 0) expectedLabels[p] = covering[covering.length - 1].classId + 1;
        else expectedLabels[p] = expectedInk[p] > 0 ? IGNORE_LABEL : 0;
      }
      expectSame(grey(image), expectedInk);
      expectSame(target.labels, expectedLabels);
    }
  });

  it('is deterministic per (seed, index) and changes with the seed', () => {
    const a = createSegmentationTask(mnist, { count: 4, seed: 1 });
    const b = createSegmentationTask(mnist, { count: 4, seed: 2 });
    expect(a.get(3)).toEqual(createSegmentationTask(mnist, { count: 4, seed: 1 }).get(3));
    expect(a.get(3).image).not.toEqual(b.get(3).image);
    expect(() => a.get(4)).toThrow(/index 4 out of range \[0, 4\)/);
  });
});

describe('detection task', () => {
  const det = createDetectionTask(mnist, { count: 40, seed: 9 });

  it('has tight boxes that together contain every nonzero pixel', () => {
    for (let i = 0; i < det.length; i++) {
      const { image, target } = det.get(i);
      const ink = grey(image);
      const n = target.classes.length;
      expect(n).toBeGreaterThanOrEqual(1);
      expect(target.boxes.length).toBe(4 * n);
      const inSomeBox = (r: number, c: number) =>
        Array.from({ length: n }, (_, b) => target.boxes.subarray(4 * b, 4 * b + 4))
          .some(([x1, y1, x2, y2]) => c >= x1 && c < x2 && r >= y1 && r < y2);
      for (let p = 0; p < ink.length; p++) if (ink[p] > 0) expect(inSomeBox(Math.floor(p / SIZE), p % SIZE)).toBe(true);
      for (let b = 0; b < n; b++) {
        const [x1, y1, x2, y2] = target.boxes.subarray(4 * b, 4 * b + 4);
        expect(x1 >= 0 && y1 >= 0 && x2 <= SIZE && y2 <= SIZE && x2 > x1 && y2 > y1).toBe(true);
        // tight: each edge row/column of the box carries ink
        const edgeInk = (r0: number, r1: number, c0: number, c1: number) => {
          for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) if (ink[r * SIZE + c] > 0) return true;
          return false;
        };
        expect(edgeInk(y1, y2, x1, x1 + 1) && edgeInk(y1, y2, x2 - 1, x2)).toBe(true);
        expect(edgeInk(y1, y1 + 1, x1, x2) && edgeInk(y2 - 1, y2, x1, x2)).toBe(true);
      }
    }
  });

  it('shares its scenes with the segmentation task', () => {
    const seg = createSegmentationTask(mnist, { count: 40, seed: 9 });
    for (let i = 0; i < 10; i++) {
      const { boxes, classes } = det.get(i).target;
      const { labels } = seg.get(i).target;
      for (let p = 0; p < labels.length; p++) {
        if (labels[p] === 0) continue;
        const [r, c] = [Math.floor(p / SIZE), p % SIZE];
        const owner = [...classes].some((cls, b) =>
          cls + 1 === labels[p] && c >= boxes[4 * b] && c < boxes[4 * b + 2] && r >= boxes[4 * b + 1] && r < boxes[4 * b + 3]);
        expect(owner).toBe(true);
      }
    }
  });
});

describe('pose task', () => {
  const pose = createPoseTask(mnist, { count: 30, seed: 4 });
  const joint = (t: PoseTarget, name: (typeof POSE_JOINTS)[number]) => {
    const k = POSE_JOINTS.indexOf(name);
    return [t.keypoints[2 * k], t.keypoints[2 * k + 1]];
  };
  const inkAtJoints = (s: Sample<PoseTarget>) => {
    const ink = grey(s.image);
    return POSE_JOINTS.map((_, k) => {
      const [x, y] = [s.target.keypoints[2 * k], s.target.keypoints[2 * k + 1]];
      return s.target.visible[k] ? ink[Math.floor(y) * SIZE + Math.floor(x)] : 255;
    });
  };

  it('draws a figure whose joints are visible, on ink, with the documented geometry', () => {
    for (let i = 0; i < pose.length; i++) {
      const s = pose.get(i);
      const t = s.target;
      expect([...t.visible]).toEqual(new Array(14).fill(1));
      expect(Math.min(...inkAtJoints(s))).toBeGreaterThan(100);
      const f = t.referenceSize / 16;
      expect(f).toBeGreaterThanOrEqual(0.8);
      expect(f).toBeLessThan(1.1);
      const dist = (a: number[], b: number[]) => Math.hypot(a[0] - b[0], a[1] - b[1]);
      expect(dist(joint(t, 'left_shoulder'), joint(t, 'left_elbow'))).toBeCloseTo(9 * f, 3);
      expect(dist(joint(t, 'right_knee'), joint(t, 'right_ankle'))).toBeCloseTo(10 * f, 3);
      expect(joint(t, 'left_shoulder')[0]).toBeGreaterThan(joint(t, 'right_shoulder')[0]); // facing the viewer
      expect(joint(t, 'head')[1]).toBeLessThan(joint(t, 'neck')[1]);
    }
  });

  it('swaps left and right on a horizontal flip, keeping joints on ink', () => {
    for (let i = 0; i < 10; i++) {
      const s = pose.get(i);
      const f = hflip(s, geometry());
      for (const [l, r] of POSE_FLIP_PAIRS) {
        expect(f.target.keypoints[2 * l]).toBeCloseTo(SIZE - s.target.keypoints[2 * r], 4);
        expect(f.target.keypoints[2 * l + 1]).toBe(s.target.keypoints[2 * r + 1]);
      }
      expect(Math.min(...inkAtJoints(f))).toBeGreaterThan(100);
      const back = hflip(f, geometry());
      expectSame(back.image, s.image);
      expect(back.target.visible).toEqual(s.target.visible);
      back.target.keypoints.forEach((v, k) => expect(v).toBeCloseTo(s.target.keypoints[k], 4));
    }
  });

  it('moves keypoints with scale + crop and hides those pushed outside', () => {
    for (let i = 0; i < 10; i++) {
      const s = pose.get(i);
      const c = scaleCrop(s, geometry(), 1.6, 20, 10);
      expect(c.target.referenceSize).toBeCloseTo(s.target.referenceSize * 1.6, 4);
      for (let k = 0; k < 14; k++) {
        const [x, y] = [s.target.keypoints[2 * k] * 1.6 - 20, s.target.keypoints[2 * k + 1] * 1.6 - 10];
        expect(c.target.keypoints[2 * k]).toBeCloseTo(x, 4);
        expect(c.target.visible[k]).toBe(x >= 0 && y >= 0 && x < SIZE && y < SIZE ? 1 : 0);
      }
      expect(Math.min(...inkAtJoints(c))).toBeGreaterThan(60);
    }
  });
});

describe('augmentation of segmentation and detection targets', () => {
  const options = { count: 20, seed: 3 };
  const seg = createSegmentationTask(mnist, options);
  const det = createDetectionTask(mnist, options);

  it('flips labels, images and boxes consistently', () => {
    for (let i = 0; i < options.count; i++) {
      const s = seg.get(i);
      const f = hflip(s, geometry());
      const mirrored = new Uint8Array(SIZE * SIZE);
      const mirroredImage = new Float32Array(3 * SIZE * SIZE);
      for (let r = 0; r < 3 * SIZE; r++) {
        for (let c = 0; c < SIZE; c++) {
          if (r < SIZE) mirrored[r * SIZE + c] = s.target.labels[r * SIZE + SIZE - 1 - c];
          mirroredImage[r * SIZE + c] = s.image[r * SIZE + SIZE - 1 - c];
        }
      }
      expectSame(f.target.labels, mirrored);
      expectSame(f.image, mirroredImage);
      const d = det.get(i);
      const fd = hflip(d, geometry());
      const ink = grey(fd.image);
      expectSame(fd.image, f.image);
      for (let b = 0; b < d.target.classes.length; b++) {
        const [x1, y1, x2, y2] = fd.target.boxes.subarray(4 * b, 4 * b + 4);
        expect([x1, x2]).toEqual([SIZE - d.target.boxes[4 * b + 2], SIZE - d.target.boxes[4 * b]]);
        let edge = false;
        for (let r = y1; r < y2; r++) edge ||= ink[r * SIZE + x1] > 0; // the flipped box is still tight on the left
        expect(edge).toBe(true);
      }
    }
  });

  it('is the identity at scale 1 and offset 0', () => {
    const s = det.get(0);
    expect(scaleCrop(s, geometry(), 1, 0, 0)).toEqual(s);
    const l = seg.get(0);
    expect(scaleCrop(l, geometry(), 1, 0, 0)).toEqual(l);
  });

  it('scales boxes and labels together, padding with fill and the ignore label', () => {
    for (let i = 0; i < options.count; i++) {
      const small = scaleCrop(seg.get(i), geometry(), 0.5, -10, -20);
      expect(small.target.labels[0]).toBe(IGNORE_LABEL); // padding
      expect(small.image[0]).toBe(-1);
      const d: Sample<DetectionTarget> = scaleCrop(det.get(i), geometry(), 0.5, -10, -20);
      const before = det.get(i).target;
      expect(d.target.classes).toEqual(before.classes);
      for (let k = 0; k < before.boxes.length; k++) expect(d.target.boxes[k]).toBeCloseTo(before.boxes[k] * 0.5 + (k % 2 ? 20 : 10), 4);
      for (let p = 0; p < SIZE * SIZE; p++) {
        const label = small.target.labels[p];
        if (label === 0 || label === IGNORE_LABEL) continue;
        const [r, c] = [Math.floor(p / SIZE) + 0.5, (p % SIZE) + 0.5];
        const inBox = [...d.target.classes].some((cls, b) => cls + 1 === label &&
          c >= d.target.boxes[4 * b] && c <= d.target.boxes[4 * b + 2] && r >= d.target.boxes[4 * b + 1] && r <= d.target.boxes[4 * b + 3]);
        expect(inBox).toBe(true);
      }
    }
  });

  it('drops boxes cropped away and clips the rest', () => {
    const s = det.get(0);
    const far = scaleCrop(s, geometry(), 1, 64, 64);
    expect(far.target.classes.length).toBe(0);
    const c = scaleCrop(s, geometry(), 2, 32, 32);
    for (const v of c.target.boxes) expect(v >= 0 && v <= SIZE).toBe(true);
  });
});

describe('classification task', () => {
  it('normalises MNIST glyphs and keeps their labels', () => {
    const task = createClassificationTask(mnist, { mean: 0.1307, std: 0.3081, channels: 1 });
    const s = task.get(0);
    expect(task.imageShape).toEqual([1, 28, 28]);
    expect(s.target).toEqual({ kind: 'class', label: 5 });
    expect(s.image[0]).toBeCloseTo(-0.1307 / 0.3081, 5);
    const total = s.image.reduce((a, v) => a + (v * 0.3081 + 0.1307) * 255, 0);
    expect(total).toBeCloseTo(27525, 0);
  });
});
