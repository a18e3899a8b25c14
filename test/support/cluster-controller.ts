// A controller under test on the real control plane: the shipped ServiceAccount's kubeconfig, one
// namespace, fast backoffs, logs kept for assertions. Stop every one with stopControllers().
import { startController, type Controller, type ControllerOptions } from '../../src/cli/controller.js';
import { parseListenerPolicy } from '../../src/plan/listener-policy.js';
import { captureLogs } from './log-capture.js';

export type TestController = Controller & { logs: ReturnType<typeof captureLogs> };

const running: Controller[] = [];

export async function startTestController(kubeconfig: string, namespace: string, extra: Partial<ControllerOptions> = {}): Promise<TestController> {
  const logs = captureLogs(extra.logger ? 'info' : 'debug');
  const c = await startController({
    kubeconfig,
    namespace,
    admin: '127.0.0.1:0',
    leaderElect: false,
    leaderElectionNamespace: namespace,
    leaderElectionId: 'ballast-test',
    listenerNamespaces: parseListenerPolicy(namespace),
    resyncSeconds: 1, // resync on, as in production (where it is 300 s), and often
    shutdownDelaySeconds: 0,
    logger: logs.logger,
    watchBackoff: { baseMs: 100, maxMs: 1000, jitter: 0.2 },
    ...extra,
  });
  running.push(c);
  return Object.assign(c, { logs });
}

export async function stopControllers(): Promise<void> {
  await Promise.all(running.splice(0).map((c) => c.stop()));
}
