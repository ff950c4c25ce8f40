import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeBox, decodeDetections, encodeBox, generateAnchors, matchAnchors, nms, ssdLevels, anchorsPerPosition } from '../fna/heads/anchors.ts';

describe('SSD anchors', () => {
  const levels = ssdLevels(64, [
    { height: 4, width: 4, stride: 16 },
    { height: 2, width: 2, stride: 32 },
    { height: 1, width: 1, stride: 64 },
  ]);

  it('spreads sizes linearly over the ratio range and counts anchors per position', () => {
    expect(levels.map((l) => l.size)).toEqual([64 * 0.2, 64 * 0.575, 64 * 0.95].map((v) => expect.closeTo(v, 9)));
    const anchors = generateAnchors(levels);
    expect(anchors.length / 4).toBe((16 + 4 + 1) * anchorsPerPosition([1, 2, 0.5]));
    // first anchor: centre of the first cell of level 0, ratio 1, size 12.8
    expect([...anchors.subarray(0, 4)]).toEqual([8, 8, expect.closeTo(12.8, 5), expect.closeTo(12.8, 5)]);
  });

  it('encode then decode gives the box back', () => {
    const anchors = generateAnchors(levels);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: anchors.length / 4 - 1 }), fc.float({ min: 0, max: 50, noNaN: true }), fc.float({ min: 0, max: 50, noNaN: true }), fc.float({ min: 1, max: 40, noNaN: true }), fc.float({ min: 1, max: 40, noNaN: true }), (i, x, y, w, h) => {
        const box = [x, y, x + w, y + h];
        const d = encodeBox(anchors, i, box, 0);
        const back = decodeBox(anchors, i, d, 0);
        back.forEach((v, k) => expect(v).toBeCloseTo(box[k], 3));
      }),
    );
  });

  it('matches every box to at least its best anchor and leaves far anchors as background', () => {
    const anchors = generateAnchors(levels);
    const boxes = Float32Array.of(2, 2, 14, 14, 30, 30, 62, 62);
    const classes = Int32Array.of(3, 7);
    const m = matchAnchors(anchors, boxes, classes);
    expect([...m.labels].filter((l) => l === 4).length).toBeGreaterThanOrEqual(1);
    expect([...m.labels].filter((l) => l === 8).length).toBeGreaterThanOrEqual(1);
    expect(m.positives).toBe([...m.labels].filter((l) => l > 0).length);
    // an anchor centred at (56, 8) overlaps neither box
    const far = [...Array(anchors.length / 4).keys()].find((i) => anchors[4 * i] === 56 && anchors[4 * i + 1] === 8)!;
    expect(m.labels[far]).toBe(0);
    // no boxes: all background
    const empty = matchAnchors(anchors, new Float32Array(0), new Int32Array(0));
    expect(empty.positives).toBe(0);
    expect(empty.labels.every((l) => l === 0)).toBe(true);
  });

  it('NMS keeps the best of overlapping same-class boxes only', () => {
    const kept = nms([
      { box: [0, 0, 10, 10], score: 0.9, classId: 0 },
      { box: [1, 1, 11, 11], score: 0.8, classId: 0 },
      { box: [1, 1, 11, 11], score: 0.7, classId: 1 },
      { box: [20, 20, 30, 30], score: 0.6, classId: 0 },
    ]);
    expect(kept.map((d) => d.score)).toEqual([0.9, 0.7, 0.6]);
  });

  it('decodes logits: a confident anchor becomes a detection at its anchor box', () => {
    const anchors = generateAnchors(levels);
    const A = anchors.length / 4;
    const logits = new Float32Array(A * 2).fill(-10);
    logits[5 * 2 + 1] = 5;
    const dets = decodeDetections(anchors, logits, new Float32Array(A * 4), 2);
    expect(dets).toHaveLength(1);
    expect(dets[0].classId).toBe(1);
    const [cx, cy, w, h] = anchors.subarray(20, 24);
    dets[0].box.forEach((v, k) => expect(v).toBeCloseTo([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2][k], 4));
  });
});

import { decodeHeatmaps, heatmapTargets } from '../fna/heads/pose.ts';

describe('pose heatmaps', () => {
  it('decoding a target heatmap recovers the keypoint within a quarter cell', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.double({ min: 4, max: 60, noNaN: true }), fc.double({ min: 4, max: 60, noNaN: true })), { minLength: 1, maxLength: 5 }), (pts) => {
        const K = pts.length;
        const kp = Float32Array.from(pts.flat());
        const { heatmaps, weights } = heatmapTargets(kp, new Uint8Array(K).fill(1), K, [16, 16], 4, 2);
        expect([...weights]).toEqual(new Array(K).fill(1));
        const back = decodeHeatmaps(heatmaps, K, [16, 16], 4);
        for (let i = 0; i < 2 * K; i++) expect(Math.abs(back[i] - kp[i])).toBeLessThanOrEqual(0.75 * 4);
      }),
    );
  });

  it('invisible or outside keypoints get zero weight and an empty heatmap', () => {
    const { heatmaps, weights } = heatmapTargets([10, 10, 200, 5], [0, 1], 2, [8, 8], 4);
    expect([...weights]).toEqual([0, 0]);
    expect(heatmaps.every((v) => v === 0)).toBe(true);
  });
});
