// Events on BalancerPools, as client-go's EventRecorder writes them: the EventCorrelator decides
// (spam filter, similar Events combined, identical ones counted) and this writes its decision, a
// create or a patch of the count. Best effort: a failed write is logged and never fails a reconcile.
import type { Logger } from '../log.js';
import { KubeApiError, type KubeClient } from '../sources/kube/kube-client.js';
import { EventCorrelator, type EventCorrelatorOptions, type EventRequest } from './event-correlator.js';

export type EventClient = Pick<KubeClient, 'createEvent' | 'patchEvent'>;

export interface EventRecorderOptions extends EventCorrelatorOptions {
  client: EventClient;
  logger: Logger;
  now?: () => Date;
}

export class EventRecorder {
  private readonly correlator: EventCorrelator;
  private readonly now: () => Date;

  constructor(private readonly opts: EventRecorderOptions) {
    this.now = opts.now ?? (() => new Date());
    this.correlator = new EventCorrelator(opts);
  }

  async record(e: EventRequest): Promise<void> {
    const { namespace, name } = e.involvedObject;
    const now = this.now();
    const write = this.correlator.correlate(e, now.getTime());
    if (write.action === 'drop') {
      this.opts.logger.debug({ pool: `${namespace}/${name}`, reason: e.reason }, 'event dropped by the spam filter');
      return;
    }
    try {
      if (write.action === 'count') {
        try {
          await this.opts.client.patchEvent(namespace, write.name, { count: write.count, message: write.message }, now, { notFoundIsOk: true });
          this.correlator.recorded(write, write.name, write.count);
          return;
        } catch (err) {
          // The Event expired (the API keeps Events an hour): record it afresh.
          if (!(err instanceof KubeApiError && err.status === 404)) throw err;
        }
      }
      this.correlator.recorded(write, await this.opts.client.createEvent({ ...e, message: write.message, namespace }, now), 1);
    } catch (err) {
      this.opts.logger.warn({ pool: `${namespace}/${name}`, reason: e.reason, err: (err as Error).message }, 'event not recorded');
    }
  }

  /** Forgets a deleted pool's Events and spam-filter bucket. */
  forget(namespace: string, name: string): void {
    this.correlator.forget(namespace, name);
  }
}
