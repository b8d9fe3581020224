// The invocation loop: next -> handler -> response/error, for plain and streaming handlers.
import { finished } from 'node:stream/promises';
import {
  attachInvocationData,
  buildCallbackContext,
  buildStreamingContext,
  forwardTraceId,
  requestIdOf,
} from './context.mjs';
import { InvalidStreamingOperation, MalformedStreamingHandler, NodeJsExit } from './errors.mjs';
import { setRequestId } from './logging.mjs';
import { ResponseStream } from './response-stream.mjs';

const isPromise = (value) => typeof value?.then === 'function';

export class InvocationLoop {
  /**
   * hooks: {logError(title, error), setBeforeExit(listener|null), setFatal(report),
   *         runtimeApiLost(error)}. setFatal receives (error) => Promise, what an uncaught
   * exception or unhandled rejection reports before the process exits.
   */
  constructor(client, handler, metadata, hooks) {
    this.client = client;
    this.handler = handler;
    this.metadata = metadata;
    this.hooks = hooks;
  }

  scheduleNext() {
    setImmediate(() => this.#once().catch((error) => this.hooks.runtimeApiLost(error)));
  }

  async #once() {
    const { body, headers } = await this.client.nextInvocation();
    const requestId = requestIdOf(headers);
    setRequestId(requestId);
    forwardTraceId(headers);
    if (this.metadata.streaming) await this.#streaming(requestId, body, headers);
    else this.#buffered(requestId, body, headers);
  }

  /**
   * After a post, the next invocation at once: its /next is pipelined with the post, in the
   * same write (the server holds the post's 202 and sends it with the next invocation). A
   * Runtime API that is gone ends the process.
   */
  #then(posting) {
    posting.catch((error) => this.hooks.runtimeApiLost(error));
    this.#once().catch((error) => this.hooks.runtimeApiLost(error));
  }

  #buffered(requestId, body, headers) {
    const { client, hooks } = this;
    const postError = (error) => {
      hooks.logError('Invoke Error', error);
      this.#then(client.postInvocationError(requestId, error));
    };
    const postResult = (result) => {
      let serialized;
      try {
        serialized = JSON.stringify(result === undefined ? null : result);
      } catch {
        postError(new Error('Unable to stringify response body'));
        return;
      }
      this.#then(client.postInvocationResponse(requestId, serialized));
    };
    const { callback, context, markCompleted } = buildCallbackContext({
      postResult,
      postError,
      setBeforeExit: hooks.setBeforeExit,
    });
    hooks.setFatal((error) => client.postInvocationError(requestId, error));
    // The event loop emptied and no callback was called: an async handler never settled
    // its promise (an error); a callback handler forgot its callback (null, as AWS does).
    hooks.setBeforeExit(() => {
      markCompleted();
      hooks.setBeforeExit(null);
      if (this.metadata.isAsync) postError(new NodeJsExit());
      else this.#then(client.postInvocationResponse(requestId, 'null'));
    });
    try {
      const result = this.handler(
        JSON.parse(body),
        attachInvocationData(context, headers),
        callback,
      );
      if (isPromise(result)) result.then(context.succeed, context.fail).catch(context.fail);
    } catch (error) {
      callback(error);
    }
  }

  async #streaming(requestId, body, headers) {
    const { hooks } = this;
    const stream = new ResponseStream(this.client, requestId, this.metadata.highWaterMark);
    const context = buildStreamingContext();
    let state = 'running';
    const finish = () => {
      state = 'done';
      hooks.setBeforeExit(null);
      if (!context.callbackWaitsForEmptyEventLoop) this.scheduleNext();
      else {
        hooks.setBeforeExit(() => {
          hooks.setBeforeExit(null);
          setImmediate(() => this.scheduleNext());
        });
      }
    };
    const fail = async (error) => {
      if (state !== 'running') return;
      state = 'failing';
      hooks.logError('Invoke Error', error);
      await stream.fail(error);
      finish();
    };
    hooks.setFatal((error) => stream.fail(error));
    // The event loop emptied while the handler's promise is still pending.
    hooks.setBeforeExit(() => {
      if (state !== 'running') return;
      if (stream.writableFinished) finish();
      else {
        fail(new InvalidStreamingOperation('Response stream is not finished.')).catch(
          hooks.runtimeApiLost,
        );
      }
    });
    try {
      const pending = this.handler(JSON.parse(body), stream, attachInvocationData(context, headers));
      if (!isPromise(pending)) {
        throw new MalformedStreamingHandler('Streaming does not support non-async handlers.');
      }
      if ((await pending) !== undefined) console.warn('Streaming handlers ignore return values.');
      await finished(stream);
      await stream.answered;
      if (state === 'running') finish();
    } catch (error) {
      await fail(error);
    }
  }
}
