// fna-webgpu/testing: tools to property-test numerical code (ours and yours) against float64 references.
export * from './allclose.ts';
export * from './reference.ts';
export * from './check.ts';
export * as arb from './arbitraries.ts';
