// Streaming handlers for the end-to-end tests of the relay through mitmdump.
import { existsSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

// A chunk, about a second, then a marker file just before the second chunk: a client that
// has the first chunk while the marker is absent got it before the function wrote again.
export const marked = awslambda.streamifyResponse(async (event, responseStream) => {
  responseStream.write('first chunk;');
  await sleep(Number(event.delay ?? 1000));
  writeFileSync(event.marker, 'second chunk written');
  responseStream.write('second chunk');
  responseStream.end();
});

// Server-sent events, each written only once the client acknowledged the one before
// (a file `<event.acks>-<n>`): the client can only get them if they are relayed one by one.
export const sse = awslambda.streamifyResponse(async (event, responseStream) => {
  const stream = awslambda.HttpResponseStream.from(responseStream, {
    statusCode: 200,
    headers: { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' },
  });
  for (let n = 0; n < 3; n += 1) {
    if (n > 0) {
      const ack = `${event.acks}-${n}`;
      for (let waited = 0; !existsSync(ack); waited += 10) {
        if (waited > 20000) throw new Error(`no ack ${n}`);
        await sleep(10);
      }
    }
    stream.write(`id: ${n}\ndata: token ${n}\n\n`);
  }
  stream.end();
});

export const failsMidStream = awslambda.streamifyResponse(async (event, responseStream) => {
  responseStream.write('partial');
  await sleep(50);
  console.log('about to fail');
  throw new RangeError('broke mid-stream');
});

// The event it got, as JSON, through a prelude (a Function URL's way to set headers).
export const echo = awslambda.streamifyResponse(async (event, responseStream) => {
  const stream = awslambda.HttpResponseStream.from(responseStream, {
    statusCode: 200,
    headers: { 'Content-Type': 'application/json' },
    cookies: ['seen=1'],
  });
  stream.write(JSON.stringify(event));
  stream.end();
});

// event.megabytes MiB in 64 KiB writes, waiting for the stream to drain.
export const large = awslambda.streamifyResponse(async (event, responseStream) => {
  const piece = Buffer.alloc(64 * 1024, 'x');
  for (let i = 0; i < Number(event.megabytes) * 16; i += 1) {
    if (!responseStream.write(piece)) {
      await new Promise((resolve) => responseStream.once('drain', resolve));
    }
  }
  responseStream.end();
});
