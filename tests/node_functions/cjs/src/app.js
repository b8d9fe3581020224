exports.handler = async (event) => ({ kind: 'subdirectory', event });
