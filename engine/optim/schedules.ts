// Learning-rate schedules: plain functions of (step, base lr), where the base lr is each parameter
// group's initial lr, so a decoder group at 10x follows the same curve at 10x. `step` is whatever unit
// the caller counts (iterations or epochs); mmcv-style "step at epoch 8, warm-up over 500 iterations"
// is written in iterations: milestones [8 * itersPerEpoch], warm-up 500.
//
// Values that are absolute in some libraries and relative in others (a floor, a warm-up start) can be
// given either way: `floor` (PyTorch eta_min, mmcv min_lr) is the same for every group, `floorRatio`
// (mmcv min_lr_ratio) scales with the group's lr.

/** What a schedule writes into: an optimizer's parameter groups. */
export interface ScheduledGroups {
  groups: { lr: number; initialLr: number }[];
}

export class LrSchedule {
  constructor(readonly lr: (step: number, baseLr: number) => number) {}

  /** Sets every group's lr for `step`. */
  apply(optimizer: ScheduledGroups, step: number): void {
    for (const g of optimizer.groups) g.lr = this.lr(step, g.initialLr);
  }
}

function checkSteps(name: string, value: number, what: string): void {
  if (!(Number.isInteger(value) && value > 0)) throw new Error(`${name}: ${what} must be a positive integer, got ${value}`);
}

const floorOf = (baseLr: number, floor?: number, floorRatio?: number) => floor ?? baseLr * (floorRatio ?? 0);

export const constantLr = (): LrSchedule => new LrSchedule((_step, baseLr) => baseLr);

/** lr * gamma^(number of milestones <= step): PyTorch MultiStepLR, mmcv 'step'. */
export function stepLr(opts: { milestones: readonly number[]; gamma?: number }): LrSchedule {
  const { milestones, gamma = 0.1 } = opts;
  return new LrSchedule((step, baseLr) => baseLr * gamma ** milestones.filter((m) => m <= step).length);
}

export interface PolyOptions {
  /** Steps of the whole schedule, warm-up included. */
  total: number;
  power?: number;
  /** Linear warm-up steps; the poly decay then runs over the remaining total - warmup steps. */
  warmup?: number;
  /** Where the warm-up starts: an absolute lr (FNA's PolyLR: 1e-4) or a fraction of the base lr. */
  warmupFrom?: number;
  warmupFromRatio?: number;
  floor?: number;
  floorRatio?: number;
}

/**
 * FNA's PolyLR (fna_seg furnace/engine/lr_policy.py): lr rises linearly from `warmupFrom` to the base lr
 * over `warmup` steps, then decays as floor + (lr - floor) * (1 - t / (total - warmup))^power with t
 * counted from the end of the warm-up (floor 0 in FNA; mmcv's poly has min_lr). Past `total`: the floor.
 */
export function polyLr(opts: PolyOptions): LrSchedule {
  const { total, power = 0.9, warmup = 0 } = opts;
  checkSteps('polyLr', total, 'total');
  if (!(Number.isInteger(warmup) && warmup >= 0 && warmup < total)) {
    throw new Error(`polyLr: warmup must be an integer in [0, total), got ${warmup} with total ${total}`);
  }
  return new LrSchedule((step, baseLr) => {
    if (step < warmup) {
      const from = opts.warmupFrom ?? baseLr * (opts.warmupFromRatio ?? 0);
      return from + ((baseLr - from) / warmup) * step;
    }
    const floor = floorOf(baseLr, opts.floor, opts.floorRatio);
    const remaining = Math.max(0, 1 - (step - warmup) / (total - warmup));
    return floor + (baseLr - floor) * remaining ** power;
  });
}

/** floor + (lr - floor) * (1 + cos(pi * step / total)) / 2, then the floor: PyTorch CosineAnnealingLR (one cycle), mmcv 'CosineAnnealing'. */
export function cosineLr(opts: { total: number; floor?: number; floorRatio?: number }): LrSchedule {
  checkSteps('cosineLr', opts.total, 'total');
  return new LrSchedule((step, baseLr) => {
    const floor = floorOf(baseLr, opts.floor, opts.floorRatio);
    const t = Math.min(step, opts.total) / opts.total;
    return floor + ((baseLr - floor) * (1 + Math.cos(Math.PI * t))) / 2;
  });
}

/**
 * mmcv's linear warm-up over any schedule: for step < iters the scheduled lr is multiplied by
 * 1 - (1 - step / iters) * (1 - ratio), i.e. it rises linearly from ratio * lr at step 0 to lr.
 */
export function linearWarmup(inner: LrSchedule, opts: { iters: number; ratio?: number }): LrSchedule {
  const { iters, ratio = 1 / 3 } = opts;
  checkSteps('linearWarmup', iters, 'iters');
  return new LrSchedule((step, baseLr) => {
    const lr = inner.lr(step, baseLr);
    if (step >= iters) return lr;
    return lr * (1 - (1 - step / iters) * (1 - ratio));
  });
}
