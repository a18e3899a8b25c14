// A TCP proxy on loopback in front of a real server, for the faults the server itself does not make:
// dropped connections, a refused port, frozen connections (open but silent), delayed bytes. It
// forwards bytes as they are (TLS passes through), so the client still verifies the server.
import net from 'node:net';

export class TcpProxy {
  private readonly pairs = new Set<[net.Socket, net.Socket]>();
  private refusing = false;
  /** Delay before each chunk is passed on, either way. */
  delayMs = 0;

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    const proxy = new TcpProxy(server, (server.address() as net.AddressInfo).port);
    server.on('connection', (client) => proxy.accept(client, targetPort, targetHost));
    return proxy;
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  private accept(client: net.Socket, port: number, host: string) {
    if (this.refusing) {
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect({ port, host });
    const pair: [net.Socket, net.Socket] = [client, upstream];
    this.pairs.add(pair);
    const close = () => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const [from, to] of [[client, upstream], [upstream, client]] as const) {
      from.on('data', (chunk) => {
        if (this.delayMs > 0) setTimeout(() => to.write(chunk), this.delayMs);
        else to.write(chunk);
      });
      from.on('error', close);
      from.on('close', close);
    }
  }

  /** Resets every open connection (a watch sees its stream cut); new ones still go through. */
  drop(): void {
    for (const [a, b] of this.pairs) {
      a.resetAndDestroy();
      b.destroy();
    }
    this.pairs.clear();
  }

  /** An outage as the client sees it: open connections reset, new ones refused, until `resume`. */
  refuse(): void {
    this.refusing = true;
    this.drop();
  }

  /** The open connections stay open but carry nothing, either way (a half-dead path); new ones work. */
  freeze(): void {
    for (const pair of this.pairs) for (const s of pair) s.pause();
  }

  /** Ends `refuse`. */
  resume(): void {
    this.refusing = false;
  }

  async close(): Promise<void> {
    this.drop();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
