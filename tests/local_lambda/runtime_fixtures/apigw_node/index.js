// CommonJS handlers answering API Gateway REST (payload 1.0) events in proxy integration format.
'use strict';

class OrderError extends Error {
  constructor(message) {
    super(message);
    this.name = 'OrderError';
  }
}

const answer = (event, context, statusCode, runtime) => ({
  statusCode,
  headers: { 'Content-Type': 'application/json', 'X-Runtime': runtime },
  multiValueHeaders: { 'Set-Cookie': ['a=1', 'b=2'] },
  body: JSON.stringify({
    method: event.httpMethod,
    path: event.path,
    query: event.queryStringParameters,
    body: event.body,
    requestId: context.awsRequestId,
  }),
});

exports.asyncHandler = async (event, context) => answer(event, context, 200, 'node-cjs-async');

exports.callback = (event, context, callback) => {
  setTimeout(() => callback(null, answer(event, context, 202, 'node-cjs-callback')), 5);
};

exports.binary = async () => ({
  statusCode: 200,
  headers: { 'Content-Type': 'image/png' },
  body: Buffer.from([0, 1, 2, 255]).toString('base64'),
  isBase64Encoded: true,
});

exports.thrown = async () => {
  throw new OrderError('no such order');
};

exports.callbackError = (event, context, callback) => callback(new OrderError('out of stock'));

exports.sleep = async () => {
  await new Promise((resolve) => setTimeout(resolve, 5000));
  return { statusCode: 200, body: 'too late' };
};

exports.exits = async () => {
  process.exit(3);
};
