// The benchmark's Node.js handler: the same answer as handler.py.
const BODY = '{"ok": true}';

exports.handler = async () => ({
  statusCode: 200,
  headers: { 'Content-Type': 'application/json' },
  body: BODY,
});
