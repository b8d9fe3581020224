// CommonJS handlers for the Node.js runtime tests: one export per behaviour.
'use strict';

class OrderError extends Error {
  constructor(message) {
    super(message);
    this.name = 'OrderError';
  }
}

exports.handler = async (event, context) => ({
  event,
  functionName: context.functionName,
  functionVersion: context.functionVersion,
  invokedFunctionArn: context.invokedFunctionArn,
  memoryLimitInMB: context.memoryLimitInMB,
  awsRequestId: context.awsRequestId,
  logGroupName: context.logGroupName,
  logStreamName: context.logStreamName,
  identity: context.identity,
  clientContext: context.clientContext,
  remaining: context.getRemainingTimeInMillis(),
  callbackWaitsForEmptyEventLoop: context.callbackWaitsForEmptyEventLoop,
  traceId: process.env._X_AMZN_TRACE_ID,
  kind: 'cjs',
});

exports.callback = (event, context, callback) => {
  setTimeout(() => callback(null, { kind: 'callback', event }), 10);
};

// The result is serialized when the invocation completes: with callbackWaitsForEmptyEventLoop
// (the default) after the timer has run, so `late` is in it; without, it is not.
exports.waits = (event, context, callback) => {
  context.callbackWaitsForEmptyEventLoop = Boolean(event.wait);
  const result = { late: false };
  setTimeout(() => {
    result.late = true;
  }, 200);
  callback(null, result);
};

exports.callbackError = (event, context, callback) => callback(new OrderError('out of stock'));

exports.thrown = async () => {
  throw new OrderError('no such order');
};

exports.syncThrow = () => {
  throw new TypeError('bad input');
};

exports.rejectString = async () => Promise.reject('plain string');

exports.exits = async () => {
  process.exit(3);
};

exports.neverSettles = async () => new Promise(() => {});

exports.forgetsCallback = (event, context, callback) => {};

exports.succeed = (event, context) => context.succeed({ legacy: 'succeed' });
exports.fail = (event, context) => context.fail(new OrderError('legacy fail'));
exports.done = (event, context) => context.done(null, { legacy: 'done' });

exports.twice = (event, context, callback) => {
  callback(null, 'first');
  callback(null, 'second');
};

exports.circular = async () => {
  const value = {};
  value.self = value;
  return value;
};

exports.logs = async (event, context) => {
  console.log('hello from', context.functionName);
  console.info('two\nlines');
  console.warn('careful');
  console.error('bad', { code: 7 });
  console.debug('details');
  return 'logged';
};

exports.unhandled = async () => {
  Promise.reject(new OrderError('nobody waits for me'));
  return new Promise((resolve) => setTimeout(() => resolve('too late'), 200));
};

exports.uncaught = async () => {
  setTimeout(() => {
    throw new OrderError('thrown from a timer');
  }, 0);
  return new Promise((resolve) => setTimeout(() => resolve('too late'), 200));
};

exports.throwsLater = async () => {
  setTimeout(() => {
    throw new OrderError('thrown after the response');
  }, 50);
  return 'answered';
};

exports.sleep = async (event) => {
  await new Promise((resolve) => setTimeout(resolve, event.ms));
  return 'slept';
};

exports.runtimeFlags = async () => ({
  gc: typeof global.gc,
  heapLimitMB: Math.round(require('node:v8').getHeapStatistics().heap_size_limit / 2 ** 20),
});

/** Keeps allocating until the heap is exhausted (the process then aborts). */
exports.hog = async () => {
  const kept = [];
  for (;;) kept.push(new Array(1 << 16).fill(kept.length));
};

exports.notAFunction = 42;
exports.nested = { deeper: { handler: async () => 'nested export' } };
