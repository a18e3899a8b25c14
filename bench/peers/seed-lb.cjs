/* global require, process, console */
/* eslint-disable @typescript-eslint/no-require-imports */
// The seed recipe's lb.js (shared/seed, "Step 3: Create the Load Balancer"), exactly as written,
// except that the target list and the port come from the environment, and it listens on loopback:
//   SEED_SERVERS=http://127.0.0.1:3000,http://127.0.0.1:3001 PORT=8080 node bench/peers/seed-lb.cjs
// lb.js
const express = require('express');
const request = require('request');
const app = express();

const servers = (process.env.SEED_SERVERS || 'http://localhost:3000,http://localhost:3001').split(',');
let current = 0;

app.use((req, res) => {
  const target = servers[current];
  current = (current + 1) % servers.length;
  req.pipe(request({ url: target + req.url })).pipe(res);
});

app.listen(Number(process.env.PORT || 8080), process.env.HOST || '127.0.0.1', () => {
  console.log('Load balancer running on port ' + (process.env.PORT || 8080));
});
