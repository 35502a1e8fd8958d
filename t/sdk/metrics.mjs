// Metrics through the official JS SDK, directly and the way OpenSandbox's Docker bridge
// mode reaches execd (every call to http://host:port/proxy/44772/...): prints what the SDK
// saw as one JSON object for t/integ/sdk_js.py to check.
import { ConnectionConfig, createDefaultAdapterFactory } from "@alibaba-group/opensandbox";

function stackFor(base) {
  return createDefaultAdapterFactory().createExecdStack({
    connectionConfig: new ConnectionConfig({ domain: base }),
    execdBaseUrl: base,
  });
}

const direct = stackFor(process.env.EXECD_URL);
const bridged = stackFor(`${process.env.EXECD_URL}/proxy/${process.env.EXECD_PORT}`);
const out = {};

const started = Date.now();
out.metrics = await direct.metrics.getMetrics();
out.metricsMs = Date.now() - started;
out.bridgedMetrics = await bridged.metrics.getMetrics();
out.bridgedHealthy = await bridged.health.ping();
const run = await bridged.commands.run("echo via-proxy; echo err 1>&2");
out.bridgedRun = {
  stdout: run.logs.stdout.map((m) => m.text),
  stderr: run.logs.stderr.map((m) => m.text),
  exitCode: run.exitCode,
};

console.log(JSON.stringify(out));
process.exit(0);
