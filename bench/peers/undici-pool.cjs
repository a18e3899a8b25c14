/* global require, process, console */
/* eslint-disable @typescript-eslint/no-require-imports */
// The floor for a Node proxy on undici: one undici Pool to the backend, `request()`, a pipe back,
// hop-by-hop headers dropped, nothing else (no retries, health, limits or metrics).
//   SERVERS=http://127.0.0.1:3000 PORT=8080 node bench/peers/undici-pool.cjs
const http = require('http');
const { Pool } = require('undici');

const pool = new Pool((process.env.SERVERS || 'http://127.0.0.1:3000').split(',')[0], { keepAliveTimeout: 4000 });
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);
const strip = (h) => Object.fromEntries(Object.entries(h).filter(([k]) => !HOP.has(k)));
http
  .createServer((req, res) => {
    pool
      .request({ path: req.url, method: req.method, headers: strip(req.headers), body: req.method === 'GET' || req.method === 'HEAD' ? null : req })
      .then((up) => {
        res.writeHead(up.statusCode, strip(up.headers));
        up.body.pipe(res);
      })
      .catch(() => {
        if (!res.headersSent) res.writeHead(502);
        res.end('bad gateway\n');
      });
  })
  .listen(Number(process.env.PORT || 8080), process.env.HOST || '127.0.0.1', () => console.log('undici pool proxy listening'));
