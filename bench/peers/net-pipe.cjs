/* global require, process, console, URL */
/* eslint-disable @typescript-eslint/no-require-imports */
// The floor for moving bytes in Node: each client connection piped to its own backend connection,
// no HTTP parsing at all (so no balancing per request either).
//   SERVERS=http://127.0.0.1:3000 PORT=8080 node bench/peers/net-pipe.cjs
const net = require('net');

const target = new URL((process.env.SERVERS || 'http://127.0.0.1:3000').split(',')[0]);
net
  .createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    // pipe() forwards each side's end; an error on either side tears down both.
    client.pipe(upstream).pipe(client);
    const destroy = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', destroy);
    upstream.on('error', destroy);
  })
  .listen(Number(process.env.PORT || 8080), process.env.HOST || '127.0.0.1', () => console.log('net pipe listening'));
