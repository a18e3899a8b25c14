// Proxy throughput with and without a dashboard open: `npm run build`, then
//   npx tsx bench/dashboard-overhead.ts [rounds=3]
// runs the demo (`node dist/cli/main.js demo`: ports 3000 to 3002, 8080 and 9901 must be free), and
// alternates `wrk -t1 -c32 -d5s http://127.0.0.1:8080/` with no viewer and with a headless Chromium
// showing http://127.0.0.1:9901/, then prints each run and the ratio of the medians.
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { launchBrowser } from '../test/support/browser.js';
import { get } from '../test/support/http-get.js';
import { waitFor } from '../test/support/wait-for.js';

const run = promisify(execFile);
const WRK = ['-t1', '-c32', '-d5s', 'http://127.0.0.1:8080/'];
const rounds = Number(process.argv[2] ?? 3);

async function wrk(): Promise<number> {
  const { stdout } = await run('wrk', WRK, { timeout: 30_000 });
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(stdout);
  if (!rps) throw new Error(`no Requests/sec in wrk's output:\n${stdout}`);
  return Number(rps[1]);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const demo = spawn(process.execPath, ['dist/cli/main.js', 'demo', '--log-level', 'warn'], { stdio: 'inherit' });
  const browser = await launchBrowser();
  try {
    await waitFor(async () => (await get('http://127.0.0.1:9901/readyz')).status === 200, 20_000);
    await wrk(); // warm-up: connections, JIT
    const without: number[] = [];
    const withPage: number[] = [];
    for (let i = 0; i < rounds; i++) {
      without.push(await wrk());
      const page = await browser.context.newPage();
      await page.goto('http://127.0.0.1:9901/');
      await page.waitForSelector('#conn[data-state="live"]');
      withPage.push(await wrk());
      await page.close();
      process.stdout.write(`round ${i + 1}: without ${without[i].toFixed(0)} req/s, with the dashboard open ${withPage[i].toFixed(0)} req/s\n`);
    }
    process.stdout.write(`median without ${median(without).toFixed(0)}, with ${median(withPage).toFixed(0)}: ratio with/without ${(median(withPage) / median(without)).toFixed(3)} (wrk ${WRK.join(' ')})\n`);
  } finally {
    await browser.close();
    demo.kill('SIGTERM');
  }
}

main().catch((err: Error) => {
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
});
