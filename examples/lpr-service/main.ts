/**
 * Runs the LPR service until SIGTERM or SIGINT, then shuts down gracefully: no new requests,
 * those in flight answered, models, cache and database closed.
 *
 *   PORT=8080 node --import tsx examples/lpr-service/main.ts
 *   curl --data-binary @car.jpg -H 'content-type: image/jpeg' localhost:8080/v1/recognize
 */
import { startLprService } from './service.js';

const service = await startLprService({
  port: Number(process.env.PORT ?? 8080),
  host: process.env.HOST ?? '127.0.0.1',
  dataDir: process.env.LPR_DATA_DIR ?? '.lpr-data',
  instances: Number(process.env.LPR_INSTANCES ?? 1),
});
console.log(`LPR service on ${service.url} (POST /v1/recognize, GET /healthz, GET /metrics)`);

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: finishing requests in flight, then stopping`);
    service.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  });
}
