// An ES module handler (top-level await) answering API Gateway REST events.
const loadedAt = await Promise.resolve('top-level await');

export const handler = async (event, context) => ({
  statusCode: 200,
  headers: { 'Content-Type': 'application/json', 'X-Runtime': 'node-esm' },
  body: JSON.stringify({ path: event.path, loadedAt, function: context.functionName }),
});
