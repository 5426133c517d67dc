/**
 * A TCP proxy in front of Redis that can go silent: until `hang()` it forwards both ways; after
 * it, connections stay open and every byte is dropped, as with a Redis that is stuck (long
 * fork, swapped-out host, partitioned network) rather than refusing connections.
 */
import { createServer, type Server, Socket } from 'node:net';

export class BlackholeProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #hung = false;

  constructor(target: { host: string; port: number }) {
    this.#server = createServer((client) => {
      const upstream = new Socket();
      upstream.connect(target.port, target.host);
      for (const socket of [client, upstream]) {
        this.#sockets.add(socket);
        socket.setNoDelay(true);
        socket.on('error', () => {});
        socket.on('close', () => this.#sockets.delete(socket));
      }
      client.on('data', (data) => {
        if (!this.#hung) upstream.write(data);
      });
      upstream.on('data', (data) => {
        if (!this.#hung) client.write(data);
      });
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
  }

  /** Listens on a free local port and returns it. */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(0, '127.0.0.1', () => {
        const address = this.#server.address();
        resolve(typeof address === 'object' && address !== null ? address.port : 0);
      });
    });
  }

  /** From now on nothing passes, in either direction; connections stay open. */
  hang(): void {
    this.#hung = true;
  }

  close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
