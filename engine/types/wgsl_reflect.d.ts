// wgsl_reflect's package.json points Node at a CommonJS build inside an ES module package, which Node
// cannot load; we import its ES module file directly, with the package's own types.
declare module 'wgsl_reflect/wgsl_reflect.module.js' {
  export * from 'wgsl_reflect';
}
