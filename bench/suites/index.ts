// Every benchmark suite, in run order. A new suite (conv, depthwise, batch norm, training step, tfjs
// comparison...) is one file in this folder exporting a `Suite`, plus one entry here; suites that report
// a fraction of a ceiling come after the suite that measures it.
import type { Suite } from '../suite.ts';
import { copySuite } from './copy.ts';
import { elementwiseSuite } from './elementwise.ts';
import { matmulSuite } from './matmul.ts';

export const SUITES: Suite[] = [copySuite, elementwiseSuite, matmulSuite];
