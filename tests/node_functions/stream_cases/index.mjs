// Streaming handlers for the local server's InvokeWithResponseStream tests.
import { writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

// One chunk, a pause, then a marker file (event.marker) just before the second chunk: a
// client that has the first chunk while the marker is absent got it before the second write.
export const marked = awslambda.streamifyResponse(async (event, responseStream) => {
  responseStream.write('first chunk;');
  await sleep(event.delay ?? 1000);
  writeFileSync(event.marker, 'second chunk written');
  responseStream.write('second chunk');
  responseStream.end();
});

export const http = awslambda.streamifyResponse(async (event, responseStream, context) => {
  console.log('streaming for', context.clientContext?.custom?.who ?? 'nobody');
  const stream = awslambda.HttpResponseStream.from(responseStream, {
    statusCode: 201,
    headers: { 'Content-Type': 'text/event-stream' },
    cookies: ['a=1'],
  });
  stream.write('data: one\n\n');
  await sleep(20);
  stream.write('data: two\n\n');
  stream.end();
});

export const failsMidStream = awslambda.streamifyResponse(async (event, responseStream) => {
  responseStream.write('partial');
  await sleep(50);
  throw new RangeError('broke mid-stream');
});

export const failsBeforeStart = awslambda.streamifyResponse(async () => {
  throw new TypeError('broke before the first byte');
});

export const hangs = awslambda.streamifyResponse(async (event, responseStream) => {
  responseStream.write('started');
  await new Promise(() => setInterval(() => {}, 1000));
});

export const exits = awslambda.streamifyResponse(async (event, responseStream) => {
  responseStream.write('about to exit');
  await sleep(50);
  process.exit(3);
});

// event.megabytes MiB in 64 KiB writes, waiting for the stream to drain as a good producer does.
export const large = awslambda.streamifyResponse(async (event, responseStream) => {
  const piece = Buffer.alloc(64 * 1024, 'x');
  for (let i = 0; i < event.megabytes * 16; i += 1) {
    if (!responseStream.write(piece)) {
      await new Promise((resolve) => responseStream.once('drain', resolve));
    }
  }
  responseStream.end();
});

// A plain (buffered) handler: InvokeWithResponseStream gets its answer as one chunk.
export const buffered = async (event) => ({ echo: event });
