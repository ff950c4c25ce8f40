export * from './classification.ts';
export * from './detection.ts';
export * from './pose.ts';
export * from './segmentation.ts';
