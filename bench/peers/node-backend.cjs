/* global require, process, console, Buffer */
/* eslint-disable @typescript-eslint/no-require-imports */
// The minimal node backend (alternative to the nginx backend): a fixed body, nothing else. Also the
// bare-server floor among the proxy targets (what Node's HTTP server costs with no proxying).
//   PORTS=3000,3001 node bench/peers/node-backend.cjs    (or PORT=3000)
const http = require('http');

for (const port of (process.env.PORTS || process.env.PORT || '3000').split(',').map(Number)) {
  const body = `Handled by server on port ${port}\n`;
  http
    .createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    })
    .listen(port, process.env.HOST || '127.0.0.1', () => console.log(`backend listening on ${port}`));
}
