// Float64 reference for matmul (PyTorch semantics: rank-1 promotion, broadcast batch axes) with an
// optional bias ('cols': [N], 'rows': [M]), and its vector-Jacobian product.
import { contiguousStrides, shapeString, sizeOf } from '../../host.ts';
import { ref, type RefOp, type RefTensor } from '../reference.ts';

interface Plan {
  batch: number[];
  M: number;
  K: number;
  N: number;
  /** Element offset of each batch's matrix in a and b (0-strided along broadcast axes). */
  aBase: number[];
  bBase: number[];
  outShape: number[];
}

function plan(aShape: readonly number[], bShape: readonly number[]): Plan {
  const am = aShape.length === 1 ? [1, aShape[0]] : [...aShape];
  const bm = bShape.length === 1 ? [bShape[0], 1] : [...bShape];
  const [M, K] = am.slice(-2);
  const [K2, N] = bm.slice(-2);
  if (K !== K2) throw new Error(`matmul ref: ${shapeString(aShape)} and ${shapeString(bShape)} do not align`);
  const ab = am.slice(0, -2);
  const bb = bm.slice(0, -2);
  const rank = Math.max(ab.length, bb.length);
  const pad = (s: number[]) => [...Array(rank - s.length).fill(1), ...s];
  const pa = pad(ab);
  const pb = pad(bb);
  const batch = pa.map((d, i) => Math.max(d, pb[i]));
  const sa = contiguousStrides(pa).map((s, i) => (pa[i] === 1 ? 0 : s * M * K));
  const sb = contiguousStrides(pb).map((s, i) => (pb[i] === 1 ? 0 : s * K * N));
  const aBase: number[] = [];
  const bBase: number[] = [];
  for (let t = 0; t < sizeOf(batch); t++) {
    let rem = t;
    let oa = 0;
    let ob = 0;
    for (let d = rank - 1; d >= 0; d--) {
      const c = rem % batch[d];
      rem = Math.floor(rem / batch[d]);
      oa += c * sa[d];
      ob += c * sb[d];
    }
    aBase.push(oa);
    bBase.push(ob);
  }
  const outShape = [...batch];
  if (aShape.length > 1) outShape.push(M);
  if (bShape.length > 1) outShape.push(N);
  return { batch, M, K, N, aBase, bBase, outShape };
}

export function matmulRef(biasAxis: 'none' | 'cols' | 'rows' = 'none'): RefOp {
  return {
    name: biasAxis === 'none' ? 'matmul' : `matmul+bias(${biasAxis})`,
    forward([a, b, bias]: RefTensor[]): RefTensor {
      const p = plan(a.shape, b.shape);
      const out = ref(p.outShape);
      p.aBase.forEach((oa, t) => {
        const ob = p.bBase[t];
        for (let m = 0; m < p.M; m++) {
          for (let n = 0; n < p.N; n++) {
            let s = 0;
            for (let k = 0; k < p.K; k++) s += a.data[oa + m * p.K + k] * b.data[ob + k * p.N + n];
            if (biasAxis === 'cols') s += bias.data[n];
            if (biasAxis === 'rows') s += bias.data[m];
            out.data[(t * p.M + m) * p.N + n] = s;
          }
        }
      });
      return out;
    },
    backward([a, b, bias]: RefTensor[], g: RefTensor): (RefTensor | null)[] {
      const p = plan(a.shape, b.shape);
      const ga = ref(a.shape);
      const gb = ref(b.shape);
      const gbias = bias ? ref(bias.shape) : null;
      p.aBase.forEach((oa, t) => {
        const ob = p.bBase[t];
        for (let m = 0; m < p.M; m++) {
          for (let n = 0; n < p.N; n++) {
            const gv = g.data[(t * p.M + m) * p.N + n];
            for (let k = 0; k < p.K; k++) {
              // Broadcast batches share a's (b's) storage, so their gradients add up there.
              ga.data[oa + m * p.K + k] += gv * b.data[ob + k * p.N + n];
              gb.data[ob + k * p.N + n] += gv * a.data[oa + m * p.K + k];
            }
            if (gbias) gbias.data[biasAxis === 'cols' ? n : m] += gv;
          }
        }
      });
      return gbias ? [ga, gb, gbias] : [ga, gb];
    },
  };
}
