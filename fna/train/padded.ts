// Centre-pads a dataset's images to a larger square (MNIST 28x28 -> 32x32) with the dataset's fill value.
import type { Dataset, Target } from '../data/types.ts';

export function padDataset<T extends Target>(ds: Dataset<T>, size: number): Dataset<T> {
  const [c, h, w] = ds.imageShape;
  if (h === size && w === size) return ds;
  if (h > size || w > size) throw new Error(`padDataset: images ${h}x${w} are larger than ${size}x${size}`);
  if (ds.get(0).target.kind !== 'class') throw new Error('padDataset: only classification targets are supported');
  const top = (size - h) >> 1;
  const left = (size - w) >> 1;
  return {
    ...ds,
    imageShape: [c, size, size],
    get(index: number) {
      const s = ds.get(index);
      const image = new Float32Array(c * size * size).fill(ds.fill);
      for (let ch = 0; ch < c; ch++) {
        for (let y = 0; y < h; y++) {
          const src = (ch * h + y) * w;
          image.set(s.image.subarray(src, src + w), (ch * size + y + top) * size + left);
        }
      }
      return { image, target: s.target };
    },
  };
}
