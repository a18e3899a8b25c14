/**
 * Runs inside a network namespace of its own (see netns.ts), where the loopback also carries a
 * "Pod IP": starts one command, then GETs each URL as the kubelet or Prometheus would, until it
 * answers or the deadline passes, and prints what each answered as JSON. Usage:
 *   tsx netns-probe-main.ts '{"command":[...],"urls":[...],"timeoutMs":20000}'
 */
import { spawn } from 'node:child_process';
import http from 'node:http';

interface Input {
  command: string[];
  env?: Record<string, string>;
  urls: string[];
  timeoutMs: number;
}

export interface ProbeAnswer {
  url: string;
  /** The HTTP status, or the connect error's code (ECONNREFUSED) when nothing answered. */
  status: number | string;
  body: string;
}

const input = JSON.parse(process.argv[2]) as Input;

function get(url: string): Promise<ProbeAnswer> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: 2000, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ url, status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ url, status: err.code ?? err.message, body: '' }));
  });
}

const [cmd, ...args] = input.command;
const child = spawn(cmd, args, { env: { ...process.env, ...input.env }, stdio: ['ignore', 'ignore', 'pipe'] });
let stderr = '';
child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));

const deadline = Date.now() + input.timeoutMs;
// Something must be listening before "refused" means anything: wait until the first URL answers.
let first = await get(input.urls[0]);
while (typeof first.status !== 'number' && Date.now() < deadline && child.exitCode === null) {
  await new Promise((r) => setTimeout(r, 100));
  first = await get(input.urls[0]);
}
const answers = [first, ...(await Promise.all(input.urls.slice(1).map(get)))];
child.kill('SIGTERM');
const code = await exited;
process.stdout.write(JSON.stringify({ answers, exitCode: code, stderr: stderr.slice(-2000) }) + '\n');
