// A TCP port on 127.0.0.1 that nothing listens on (just bound and released): for servers a test starts later,
// or for a peer that refuses connections.
import { createServer, type AddressInfo } from 'node:net';

export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}
