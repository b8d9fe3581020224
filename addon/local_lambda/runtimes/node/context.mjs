// The context object handed to handlers: the function's environment, the invocation's
// Runtime API headers, and (for non-streaming handlers) the callback and the legacy
// done/succeed/fail, with AWS's callbackWaitsForEmptyEventLoop semantics.

/** Runtime API headers, as node:http gives them (lower case). */
const HEADER = {
  requestId: 'lambda-runtime-aws-request-id',
  deadline: 'lambda-runtime-deadline-ms',
  functionArn: 'lambda-runtime-invoked-function-arn',
  traceId: 'lambda-runtime-trace-id',
  clientContext: 'lambda-runtime-client-context',
  identity: 'lambda-runtime-cognito-identity',
  tenantId: 'lambda-runtime-aws-tenant-id',
};

export function requestIdOf(headers) {
  const requestId = headers[HEADER.requestId];
  if (!requestId) throw new Error('invocation id is missing or invalid');
  return requestId;
}

/** _X_AMZN_TRACE_ID follows each invocation's Lambda-Runtime-Trace-Id. */
export function forwardTraceId(headers) {
  if (headers[HEADER.traceId]) process.env._X_AMZN_TRACE_ID = headers[HEADER.traceId];
  else delete process.env._X_AMZN_TRACE_ID;
}

function parseJsonHeader(value, name) {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value);
  } catch (error) {
    throw new Error(`Cannot parse ${name} as json: ${error}`);
  }
}

/** Add the environment's and the invocation's fields to a context; throws on bad JSON. */
export function attachInvocationData(context, headers, env = process.env) {
  const deadline = Number(headers[HEADER.deadline]);
  return Object.assign(context, {
    functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION,
    functionName: env.AWS_LAMBDA_FUNCTION_NAME,
    memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
    clientContext: parseJsonHeader(headers[HEADER.clientContext], 'ClientContext'),
    identity: parseJsonHeader(headers[HEADER.identity], 'CognitoIdentity'),
    invokedFunctionArn: headers[HEADER.functionArn],
    awsRequestId: headers[HEADER.requestId],
    tenantId: headers[HEADER.tenantId],
    getRemainingTimeInMillis: () => deadline - Date.now(),
  });
}

/**
 * The callback and the context's done/succeed/fail for one invocation. Only the first call
 * of any of them counts. callback(null, result) posts at once when
 * callbackWaitsForEmptyEventLoop is false, otherwise when the event loop has emptied
 * (process 'beforeExit'); done/succeed/fail and errors post at once.
 *
 * outcome: {postResult(result), postError(error), setBeforeExit(listener)}.
 * Returns {callback, context, markCompleted}.
 */
export function buildCallbackContext(outcome) {
  let waitForEmptyEventLoop = true;
  let completed = false;
  let called = false;

  const complete = (result) => {
    if (completed) {
      console.error(
        'Invocation has already been reported as done. Cannot call complete more than once per invocation.',
      );
      return;
    }
    completed = true;
    outcome.postResult(result);
  };
  const callback = (error, result) => {
    outcome.setBeforeExit(null);
    if (error !== undefined && error !== null) outcome.postError(error);
    else if (!waitForEmptyEventLoop) complete(result);
    else outcome.setBeforeExit(() => setImmediate(() => complete(result)));
  };
  const done = (error, result) => {
    outcome.setBeforeExit(null);
    if (error !== undefined && error !== null) outcome.postError(error);
    else complete(result);
  };
  const firstCallOnly =
    (fn) =>
    (...args) => {
      if (called) return;
      called = true;
      fn(...args);
    };

  const context = {
    get callbackWaitsForEmptyEventLoop() {
      return waitForEmptyEventLoop;
    },
    set callbackWaitsForEmptyEventLoop(value) {
      waitForEmptyEventLoop = value;
    },
    done: firstCallOnly(done),
    succeed: firstCallOnly((result) => done(null, result)),
    fail: firstCallOnly((error) => done(error ?? 'handled', null)),
  };
  return { callback: firstCallOnly(callback), context, markCompleted: () => (completed = true) };
}

/** The context of a streaming invocation: no callback, no done/succeed/fail. */
export function buildStreamingContext() {
  let waitForEmptyEventLoop = true;
  return {
    get callbackWaitsForEmptyEventLoop() {
      return waitForEmptyEventLoop;
    },
    set callbackWaitsForEmptyEventLoop(value) {
      waitForEmptyEventLoop = value;
    },
  };
}
