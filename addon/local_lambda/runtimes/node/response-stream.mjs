// The responseStream of a streamified handler, and awslambda.HttpResponseStream.
//
// A Writable whose writes go out at once as chunks of a streaming-mode POST to
// invocation/{id}/response. The POST starts at the first write (or at end()), so that
// setContentType and HttpResponseStream.from can still set the Content-Type, and so that an
// error before any byte is reported as an ordinary invocation error. An error after the body
// started ends the chunked body with the error trailers.
import { Writable } from 'node:stream';
import { InvalidStreamingOperation } from './errors.mjs';
import { errorTrailers } from './rapid.mjs';

const HTTP_INTEGRATION_TYPE = 'application/vnd.awslambda.http-integration-response';
const PRELUDE_DELIMITER_LENGTH = 8;

export class ResponseStream extends Writable {
  #client;
  #requestId;
  #contentType = 'application/octet-stream';
  #request = null;
  #answered = null;

  constructor(client, requestId, highWaterMark) {
    super(highWaterMark === undefined ? {} : { highWaterMark });
    this.#client = client;
    this.#requestId = requestId;
  }

  setContentType(contentType) {
    if (this.#request) throw new InvalidStreamingOperation('Cannot set content-type, too late.');
    this.#contentType = contentType;
  }

  /** Resolves with the Runtime API's answer to the POST, once the stream has ended. */
  get answered() {
    return this.#answered;
  }

  write(chunk, encoding, callback) {
    if (typeof chunk !== 'string' && !(chunk instanceof Uint8Array)) {
      chunk = JSON.stringify(chunk);
    }
    return super.write(chunk, encoding, callback);
  }

  #open() {
    if (this.#request === null) {
      const { request, answered } = this.#client.openStreamingResponse(
        this.#requestId,
        this.#contentType,
      );
      this.#request = request;
      this.#answered = answered;
      request.on('error', (error) => this.destroy(error));
      // An open stream is not the handler's work: unref'ed, it does not keep the event loop
      // alive, so a handler that returns without ending it is caught at 'beforeExit'.
      request.on('socket', (socket) => {
        if (!request.writableEnded) socket.unref();
      });
      answered.catch(() => {}); // the error above reaches the handler through the stream
      if (typeof this._onBeforeFirstWrite === 'function') {
        this._onBeforeFirstWrite((prefix) => request.write(prefix));
      }
    }
    return this.#request;
  }

  _write(chunk, encoding, callback) {
    this.#open().write(chunk, encoding, (error) => callback(error ?? null));
  }

  #endRequest(callback) {
    const request = this.#open();
    request.socket?.ref();
    request.once('socket', (socket) => socket.ref());
    request.end(callback);
  }

  _final(callback) {
    this.#endRequest(() => callback());
  }

  _destroy(error, callback) {
    const request = this.#request;
    if (request !== null && !request.writableEnded && !request.destroyed) {
      if (error) request.addTrailers(errorTrailers(error));
      this.#endRequest();
    }
    callback(error);
  }

  /**
   * End the response with an error. Before the first byte it is posted to .../error; after
   * it, the body so far is flushed and ended with the error trailers. Resolves when the
   * Runtime API has answered.
   */
  async fail(error) {
    if (this.#request === null) {
      this.destroy();
      await this.#client.postInvocationError(this.#requestId, error);
      return;
    }
    if (!this.#request.writableEnded) this.#request.addTrailers(errorTrailers(error));
    if (!this.writableEnded && !this.destroyed) this.end();
    await this.#answered.catch(() => {});
  }
}

/** awslambda.HttpResponseStream: status, headers and cookies for Function URLs. */
export class HttpResponseStream {
  static from(underlyingStream, prelude) {
    underlyingStream.setContentType(HTTP_INTEGRATION_TYPE);
    const metadata = JSON.stringify(prelude);
    underlyingStream._onBeforeFirstWrite = (write) => {
      write(metadata);
      write(new Uint8Array(PRELUDE_DELIMITER_LENGTH));
    };
    return underlyingStream;
  }
}
