import http from 'node:http';

export interface LoadResult {
  ok: number;
  failed: string[];
  /** Answers per body ("pid 12 worker 0"). */
  bodies: Map<string, number>;
}

/**
 * One GET / on 127.0.0.1:`port` through `agent`, counted into `into`: a 200 with a whole body
 * counts as ok (by body), anything else is kept with its reason. Never rejects.
 */
export function getCounted(
  port: number,
  agent: http.Agent,
  into: LoadResult,
  headers: http.OutgoingHttpHeaders = {},
): Promise<void> {
  return new Promise<void>((resolve) => {
    const failed = (why: string) => {
      into.failed.push(why);
      resolve();
    };
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent, headers }, (res) => {
      let data = '';
      res.setEncoding('utf8').on('data', (d: string) => (data += d));
      res.on('end', () => {
        if (res.statusCode !== 200 || !data.endsWith('\n')) return failed(`status ${res.statusCode}: ${data}`);
        into.ok++;
        into.bodies.set(data.trim(), (into.bodies.get(data.trim()) ?? 0) + 1);
        resolve();
      });
      res.on('error', (e) => failed(e.message));
    });
    req.on('error', (e) => failed(e.message));
  });
}

/**
 * GET / on 127.0.0.1:`port` over `concurrency` connections (keep-alive), from before `during`
 * starts until it has settled and `after` more requests were answered; at most `max` requests in
 * all (bounded: the load stops there even if `during` has not settled). Every failure is kept
 * with its reason; nothing is timed. `keepAlive: false` sends each request with Connection: close.
 */
export async function loadDuring(
  port: number,
  concurrency: number,
  during: () => Promise<void>,
  { after = 200, max = 60_000, keepAlive = true } = {},
): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive, maxSockets: concurrency });
  const result: LoadResult = { ok: 0, failed: [], bodies: new Map() };
  let sent = 0;
  let stopAt = max;
  const one = () => getCounted(port, agent, result, keepAlive ? {} : { connection: 'close' });
  const worker = async () => {
    while (sent < stopAt) {
      sent++;
      await one();
    }
  };
  const driving = during().finally(() => {
    stopAt = Math.min(max, sent + after);
  });
  // Errors of `during` (a failed expectation) surface after the load has stopped.
  const settled = driving.then(
    () => undefined,
    (err: unknown) => err,
  );
  await Promise.all(Array.from({ length: concurrency }, worker));
  const err = await settled;
  agent.destroy();
  if (err !== undefined) throw err;
  return result;
}
