// A network namespace of the test's own, as a Pod has: its loopback carries 127.0.0.1 and a "Pod IP"
// (POD_IP), so a socket bound to 127.0.0.1 is unreachable on the Pod IP, as from the kubelet.
// Fixed ports (a manifest's 9902, 8080) are free there whatever else runs on the machine.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import type { ProbeAnswer } from './netns-probe-main.js';

export const POD_IP = '10.244.0.7';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** Starts `command` in a fresh network namespace and GETs each URL there (the first must answer). */
export async function probeInNetns(command: string[], urls: string[], env: Record<string, string> = {}): Promise<ProbeAnswer[]> {
  const script = `ip link set lo up && ip addr add ${POD_IP}/32 dev lo && exec "$@"`;
  const driver = [process.execPath, '--import', 'tsx', path.join(ROOT, 'test/support/netns-probe-main.ts'), JSON.stringify({ command, urls, env, timeoutMs: 20_000 })];
  const { stdout } = await promisify(execFile)('unshare', ['-rn', 'sh', '-c', script, 'sh', ...driver], { cwd: ROOT, timeout: 40_000 });
  const { answers, stderr } = JSON.parse(stdout) as { answers: ProbeAnswer[]; stderr: string };
  if (typeof answers[0].status !== 'number') throw new Error(`${command.join(' ')}: nothing answered ${urls[0]} (${answers[0].status}); stderr:\n${stderr}`);
  return answers;
}
