// Every benchmark suite, in run order. A suite is one file in this folder exporting a `Suite`, plus one
// entry here; suites that report a fraction of a ceiling come after the suite that measures it (copy GB/s,
// best matmul GFLOP/s).
import type { Suite } from '../suite.ts';
import { convSuite, depthwiseSuite } from './conv.ts';
import { copySuite } from './copy.ts';
import { elementwiseSuite } from './elementwise.ts';
import { matmulSuite } from './matmul.ts';
import { mixedOpSuite } from './mixedop.ts';
import { batchNormSuite } from './norm.ts';
import { trainSuite } from './train.ts';

export const SUITES: Suite[] = [
  copySuite, elementwiseSuite, matmulSuite, convSuite, depthwiseSuite, batchNormSuite, mixedOpSuite, trainSuite,
];
