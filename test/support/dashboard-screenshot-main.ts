// `npm run screenshot`: regenerates docs/dashboard.png, the README's picture of the demo's dashboard.
// Runs what `npm start` runs (the demo's backends on 3000 and 3001 and the spare on 3002, `ballast
// dev` on manifests/dev, whose pool listens on 8080; those ports must be free), sends it 50 s of varying
// traffic so the charts have something to show, and photographs the page in Debian's Chromium.
import http from 'node:http';
import path from 'node:path';
import { DEMO_MANIFESTS, DEMO_PORTS, startDemoBackend } from '../../src/cli/demo.js';
import { startDev } from '../../src/cli/dev.js';
import { silentLogger } from '../../src/log.js';
import { launchBrowser } from './browser.js';

const OUT = path.resolve('docs/dashboard.png');
const TRAFFIC_SECONDS = 50;

/** About `rps` requests a second to the demo's listener for `seconds`, one keep-alive connection. */
async function traffic(seconds: number, rps: (t: number) => number): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const get = () =>
    new Promise<void>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port: 8080, path: '/', agent }, (res) => res.resume().once('end', resolve));
      req.on('error', () => resolve());
    });
  const start = Date.now();
  while (Date.now() - start < seconds * 1000) {
    const t = (Date.now() - start) / 1000;
    const tick = Date.now();
    await Promise.all(Array.from({ length: Math.max(1, Math.round(rps(t) / 10)) }, get));
    await new Promise((r) => setTimeout(r, Math.max(0, 100 - (Date.now() - tick))));
  }
  agent.destroy();
}

async function main(): Promise<void> {
  const servers = await Promise.all(DEMO_PORTS.map((p) => startDemoBackend(p))).catch((err: Error) => {
    throw new Error(`the demo's ports ${DEMO_PORTS.join(', ')} and 8080 must be free (is \`npm start\` running?): ${err.message}`);
  });
  const app = await startDev({ manifests: DEMO_MANIFESTS, admin: '127.0.0.1:0', logger: silentLogger });
  const browser = await launchBrowser({ width: 1280, height: 540 });
  try {
    process.stdout.write(`sending ${TRAFFIC_SECONDS} s of traffic to the demo...\n`);
    await traffic(TRAFFIC_SECONDS, (t) => 60 + 40 * Math.sin(t / 6));
    const page = await browser.context.newPage();
    await page.goto(`http://${app.adminAddress}/`);
    await page.waitForSelector('[data-pool="default/web"] tr[data-state="active"] >> nth=1');
    // Traffic while the page is open, so the backends' own rates and quantiles are filled in.
    await traffic(4, () => 80);
    await page.screenshot({ path: OUT, fullPage: true });
    process.stdout.write(`wrote ${path.relative(process.cwd(), OUT)}\n`);
  } finally {
    await browser.close();
    await app.stop();
    for (const s of servers) s.close();
  }
}

main().catch((err: Error) => {
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
});
