/* global require, process, console */
/* eslint-disable @typescript-eslint/no-require-imports */
// http-proxy 1.18.1 as a round-robin balancer, the seed's alternative ("Express and the request
// (or http-proxy) package"). HTTP_PROXY_KEEPALIVE=1 passes a keep-alive http.Agent; otherwise the
// options are the defaults (no agent: a new upstream connection per request).
//   SERVERS=http://127.0.0.1:3000 PORT=8080 [HTTP_PROXY_KEEPALIVE=1] node bench/peers/http-proxy.cjs
const http = require('http');
const httpProxy = require('http-proxy');

const servers = (process.env.SERVERS || 'http://127.0.0.1:3000').split(',');
let current = 0;
const options = process.env.HTTP_PROXY_KEEPALIVE === '1' ? { agent: new http.Agent({ keepAlive: true }) } : {};
const proxy = httpProxy.createProxyServer(options);
// Without an 'error' listener http-proxy throws and the process dies.
proxy.on('error', (err, req, res) => {
  if (res.writeHead && !res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
  res.end('bad gateway\n');
});

http
  .createServer((req, res) => {
    const target = servers[current];
    current = (current + 1) % servers.length;
    proxy.web(req, res, { target });
  })
  .listen(Number(process.env.PORT || 8080), process.env.HOST || '127.0.0.1', () => {
    console.log('http-proxy listening on ' + (process.env.PORT || 8080));
  });
