// Stock MobileNetV2 as a MobileNetArch, plus the derived views builders need: skip sorting and the effective
// stride/dilation of every MBConv layer.
import { type MBConvOp, isSkip, mbconvOp } from './ops.ts';
import { ArchError, type MobileNetArch, type OutputStride, type Stage } from './types.ts';

/** torchvision's _make_divisible: round to the nearest multiple, never more than 10% below v. */
export function makeDivisible(v: number, divisor = 8, minValue = divisor): number {
  const rounded = Math.max(minValue, Math.floor((v + divisor / 2) / divisor) * divisor);
  return rounded < 0.9 * v ? rounded + divisor : rounded;
}

/** [expansion, out channels, layers, stride] per stage of MobileNetV2 (Sandler et al., Table 2). */
const MOBILENET_V2_STAGES: ReadonlyArray<readonly [number, number, number, number]> = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

/** Seed layer counts per block, stem included: FNA's `seed_num_layers` for MobileNetV2. */
export const MOBILENET_V2_SEED_NUM_LAYERS = [1, 1, 2, 3, 4, 3, 3, 1, 1] as const;

export interface MobileNetV2Options {
  widthMultiplier?: number;
  numClasses?: number | null;
  inputChannels?: number;
  /** Layers per stage (7 numbers); default [1, 2, 3, 4, 3, 3, 1]. */
  depths?: number[];
  outputStride?: OutputStride;
  /** Keep the final 1x1 conv (1280 channels at width 1); default true. */
  head?: boolean;
  /** The DenseNAS seed uses 1e-3. */
  bnEps?: number;
}

export function mobilenetV2Arch(options: MobileNetV2Options = {}): MobileNetArch {
  const {
    widthMultiplier = 1,
    numClasses = 1000,
    inputChannels = 3,
    depths = MOBILENET_V2_STAGES.map((s) => s[2]),
    outputStride,
    head = true,
    bnEps = 1e-3,
  } = options;
  if (!(widthMultiplier > 0)) throw new ArchError('widthMultiplier', `must be > 0, got ${widthMultiplier}`);
  if (depths.length !== MOBILENET_V2_STAGES.length) {
    throw new ArchError('depths', `needs ${MOBILENET_V2_STAGES.length} stage depths, got ${depths.length}`);
  }
  const stemOut = makeDivisible(32 * widthMultiplier);
  let channels = stemOut;
  const stages: Stage[] = MOBILENET_V2_STAGES.map(([expansion, out, , stride], i) => {
    const stage: Stage = {
      in: channels,
      out: makeDivisible(out * widthMultiplier),
      stride,
      ops: new Array<string>(depths[i]).fill(`k3_e${expansion}`),
    };
    channels = stage.out;
    return stage;
  });
  const arch: MobileNetArch = {
    kind: 'mobilenetv2',
    inputChannels,
    stem: { out: stemOut, stride: 2 },
    stages,
    head: head ? { out: makeDivisible(1280 * Math.max(1, widthMultiplier)) } : null,
    numClasses,
    bnEps,
  };
  if (outputStride !== undefined) arch.outputStride = outputStride;
  return arch;
}

/** Spec §1.1 / pitfall 12: skips (parameter-free Identity) move to the end of their stage. */
export function sortSkips(arch: MobileNetArch): MobileNetArch {
  return {
    ...arch,
    stages: arch.stages.map((s) => ({ ...s, ops: [...s.ops.filter((o) => !isSkip(o)), ...s.ops.filter(isSkip)] })),
  };
}

export interface StageGeometry {
  stride: number;
  dilation: number;
}

/**
 * Effective stride and dilation per stage. With an output stride (DeepLab, FNA's seg derive_blocks), once
 * the running stride has reached it every later stride becomes 1 and multiplies the dilation instead.
 */
export function stageGeometry(arch: MobileNetArch): StageGeometry[] {
  let running = arch.stem.stride;
  let rate = 1;
  return arch.stages.map((stage) => {
    const base = stage.dilation ?? 1;
    if (arch.outputStride !== undefined && running >= arch.outputStride) {
      rate *= stage.stride;
      return { stride: 1, dilation: rate * base };
    }
    running *= stage.stride;
    return { stride: stage.stride, dilation: base };
  });
}

export interface MBConvLayer {
  stageIndex: number;
  /** State-dict block index: 1 + stage index. */
  block: number;
  /** Index among the stage's non-skip layers, i.e. after sortSkips. */
  layer: number;
  opName: string;
  op: MBConvOp;
  in: number;
  out: number;
  hidden: number;
  stride: number;
  dilation: number;
  residual: boolean;
}

/** Every parameterised layer in build order (skips dropped: they are Identity at the end of the stage). */
export function mbconvLayers(arch: MobileNetArch): MBConvLayer[] {
  const geometry = stageGeometry(arch);
  const layers: MBConvLayer[] = [];
  arch.stages.forEach((stage, stageIndex) => {
    stage.ops.filter((o) => !isSkip(o)).forEach((opName, layer) => {
      const op = mbconvOp(opName);
      const inChannels = layer === 0 ? stage.in : stage.out;
      const stride = layer === 0 ? geometry[stageIndex].stride : 1;
      layers.push({
        stageIndex,
        block: stageIndex + 1,
        layer,
        opName,
        op,
        in: inChannels,
        out: stage.out,
        hidden: inChannels * op.expansion,
        stride,
        dilation: geometry[stageIndex].dilation,
        residual: inChannels === stage.out && stride === 1,
      });
    });
  });
  return layers;
}

/** Non-skip layer count per stage (the `n_b` of the depth rule). */
export function stageDepths(arch: MobileNetArch): number[] {
  return arch.stages.map((s) => s.ops.filter((o) => !isSkip(o)).length);
}

/** State-dict block index of the final 1x1 conv. */
export function headBlockIndex(arch: { stages: readonly unknown[] }): number {
  return arch.stages.length + 1;
}
