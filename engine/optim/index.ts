// Optimizers, gradient clipping and learning-rate schedules.
export {
  Optimizer,
  type GroupOptions,
  type GroupSpec,
  type ParamGroup,
  type ParamsInput,
  type ParamState,
  type OptimizerStateDict,
} from './optimizer.ts';
export { SGD, SGD_DEFAULTS, type SGDOptions } from './sgd.ts';
export { Adam, AdamW, ADAM_DEFAULTS, ADAMW_DEFAULTS, type AdamOptions } from './adam.ts';
export { RMSprop, RMSPROP_DEFAULTS, type RMSpropOptions } from './rmsprop.ts';
export { clipGradNorm } from './clip.ts';
export {
  LrSchedule,
  constantLr,
  stepLr,
  polyLr,
  cosineLr,
  linearWarmup,
  type PolyOptions,
  type ScheduledGroups,
} from './schedules.ts';
