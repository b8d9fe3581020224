// Streaming handlers (awslambda.streamifyResponse) for the Node.js runtime tests.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';

export const chunks = awslambda.streamifyResponse(async (event, responseStream) => {
  responseStream.write('first chunk;');
  await sleep(event.delay ?? 300);
  responseStream.write('second chunk');
  responseStream.end();
});

export const http = awslambda.streamifyResponse(async (event, responseStream) => {
  const stream = awslambda.HttpResponseStream.from(responseStream, {
    statusCode: 201,
    headers: { 'Content-Type': 'text/plain', 'X-Custom': 'yes' },
    cookies: ['a=1'],
  });
  stream.write('hello');
  stream.end();
});

export const failsMidStream = awslambda.streamifyResponse(async (event, responseStream) => {
  responseStream.write('partial');
  await sleep(50);
  throw new RangeError('broke mid-stream');
});

export const failsBeforeStart = awslambda.streamifyResponse(async () => {
  throw new RangeError('broke before the first byte');
});

export const piped = awslambda.streamifyResponse(async (event, responseStream) => {
  responseStream.setContentType('text/csv');
  await pipeline(Readable.from(['a,b\n', '1,2\n']), responseStream);
});

export const objects = awslambda.streamifyResponse(async (event, responseStream) => {
  responseStream.write({ json: true });
  responseStream.end();
});

export const unfinished = awslambda.streamifyResponse(async (event, responseStream) => {
  responseStream.write('never ended');
});

export const notAsync = awslambda.streamifyResponse((event, responseStream) => {
  responseStream.end('sync');
});

export const highWaterMark = awslambda.streamifyResponse(
  async (event, responseStream) => {
    responseStream.end(String(responseStream.writableHighWaterMark));
  },
  { highWaterMark: 1234 },
);

export const emptyHttp = awslambda.streamifyResponse(async (event, responseStream) => {
  awslambda.HttpResponseStream.from(responseStream, { statusCode: 204 }).end();
});
