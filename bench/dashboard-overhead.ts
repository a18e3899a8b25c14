// Proxy throughput with and without a dashboard open: `npm run build`, then
//   npx tsx bench/dashboard-overhead.ts [rounds=3]
// runs the demo (`node dist/cli/main.js demo`: ports 3000 to 3002, 8080 and 9901 must be free), and
// alternates `wrk -t1 -c32 -d5s http://127.0.0.1:8080/` with no viewer and with a headless Chromium
// showing http://127.0.0.1:9901/, then prints each run and the ratio of the medians. It also reports
// the Ballast process's CPU time per request (from /proc), which a loaded machine disturbs less than
// throughput: the browser and wrk compete for the same cores.
import { execFile, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { promisify } from 'node:util';
import { launchBrowser } from '../test/support/browser.js';
import { get } from '../test/support/http-get.js';
import { waitFor } from '../test/support/wait-for.js';

const run = promisify(execFile);
const WRK = ['-t1', '-c32', '-d5s', 'http://127.0.0.1:8080/'];
const rounds = Number(process.argv[2] ?? 3);

/** CPU seconds (user + system) the process has used so far. */
async function cpuSeconds(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

/** One wrk run: requests per second, and the Ballast process's CPU µs per request. */
async function wrk(pid: number): Promise<{ rps: number; cpuUs: number }> {
  const before = await cpuSeconds(pid);
  const { stdout } = await run('wrk', WRK, { timeout: 30_000 });
  const cpu = (await cpuSeconds(pid)) - before;
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(stdout);
  const total = /(\d+) requests in/.exec(stdout);
  if (!rps || !total) throw new Error(`no Requests/sec in wrk's output:\n${stdout}`);
  return { rps: Number(rps[1]), cpuUs: (cpu / Number(total[1])) * 1e6 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const demo = spawn(process.execPath, ['dist/cli/main.js', 'demo', '--log-level', 'warn'], { stdio: 'inherit' });
  const browser = await launchBrowser();
  try {
    await waitFor(async () => (await get('http://127.0.0.1:9901/readyz')).status === 200, 20_000);
    const pid = demo.pid!;
    await wrk(pid); // warm-up: connections, JIT
    const without: { rps: number; cpuUs: number }[] = [];
    const withPage: { rps: number; cpuUs: number }[] = [];
    const show = (r: { rps: number; cpuUs: number }) => `${r.rps.toFixed(0)} req/s, ${r.cpuUs.toFixed(1)} µs CPU/request`;
    for (let i = 0; i < rounds; i++) {
      without.push(await wrk(pid));
      const page = await browser.context.newPage();
      await page.goto('http://127.0.0.1:9901/');
      await page.waitForSelector('#conn[data-state="live"]');
      withPage.push(await wrk(pid));
      await page.close();
      process.stdout.write(`round ${i + 1}: without ${show(without[i])}; with the dashboard open ${show(withPage[i])}\n`);
    }
    const rps = [median(without.map((r) => r.rps)), median(withPage.map((r) => r.rps))];
    const cpu = [median(without.map((r) => r.cpuUs)), median(withPage.map((r) => r.cpuUs))];
    process.stdout.write(`medians: throughput with/without ${(rps[1] / rps[0]).toFixed(3)} (${rps[1].toFixed(0)} / ${rps[0].toFixed(0)} req/s); Ballast CPU per request with/without ${(cpu[1] / cpu[0]).toFixed(3)} (${cpu[1].toFixed(1)} / ${cpu[0].toFixed(1)} µs)\n`);
    process.stdout.write(`(wrk ${WRK.join(' ')}; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')})\n`);
  } finally {
    await browser.close();
    demo.kill('SIGTERM');
  }
}

main().catch((err: Error) => {
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
});
