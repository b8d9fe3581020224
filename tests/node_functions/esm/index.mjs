import { basename } from 'node:path';

const loadedAt = await Promise.resolve('top-level await');

export const handler = async (event, context) => ({
  kind: 'esm',
  loadedAt,
  file: basename(import.meta.url),
  requestId: context.awsRequestId,
  event,
});
