module.exports.handler = async () => ({ kind: 'cjs extension' });
