export const handler = async () => ({ kind: 'esm package', module: typeof require });
