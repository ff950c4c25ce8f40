// fna-webgpu/testing: tools to property-test numerical code (ours and yours) against float64 references.
// See docs/testing.md.

/** Float32-aware comparison: Tolerance, f32Tolerance, compareClose, assertClose, F32_EPS. */
export * from './allclose.ts';
/** Float64 references: RefTensor, ref, RefOp, gradcheck, seededValues, broadcastIndex. */
export * from './reference.ts';
/** checkOp: a GPU op's forward and input gradients against its reference, plus a leak check. */
export * from './check.ts';
/** Input layouts (dense, permuted, expanded): Layout, layoutRef, applyLayout, withLayouts, denseLayout. */
export * from './layout.ts';
/** References of the element-wise ops (addRef, expRef, whereRef, ...) and elementwiseRef for your own. */
export * from './refs/elementwise.ts';
/** References of the reductions: sumRef, meanRef, maxRef, minRef. */
export * from './refs/reduce.ts';
/** References of the views: reshapeRef, permuteRef, transposeRef, expandRef, contiguousRef, composeInputs. */
export * from './refs/movement.ts';
/** fast-check arbitraries: shape, broadcastPair, axesOf, largeShape, layoutOf, values, tensorOf, convConfig. */
export * as arb from './arbitraries.ts';
