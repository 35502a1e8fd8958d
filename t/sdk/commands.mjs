// Drives execd through the official JS SDK's execd adapters (no lifecycle server:
// the SDK's own DefaultAdapterFactory is pointed at the daemon) and prints what the
// SDK saw as one JSON object for t/integ/sdk_js.py to check.
import { ConnectionConfig, createDefaultAdapterFactory } from "@alibaba-group/opensandbox";

const base = process.env.EXECD_URL;
const stack = createDefaultAdapterFactory().createExecdStack({
  connectionConfig: new ConnectionConfig({ domain: base }),
  execdBaseUrl: base,
});
const out = {};

out.healthy = await stack.health.ping();

const fg = await stack.commands.run("echo hello; echo oops 1>&2; printf 'a\\n\\nb\\n'");
out.fg = {
  id: fg.id,
  stdout: fg.logs.stdout.map((m) => m.text),
  stderr: fg.logs.stderr.map((m) => m.text),
  exitCode: fg.exitCode,
  error: fg.error ?? null,
  complete: !!fg.complete,
};

const failed = await stack.commands.run("echo before; exit 3");
out.failed = { exitCode: failed.exitCode, ename: failed.error?.name, evalue: failed.error?.value };

const withOpts = await stack.commands.run("echo $GREETING; pwd", {
  envs: { GREETING: "hi-from-sdk" },
  workingDirectory: "/tmp",
  timeoutSeconds: 30,
});
out.withOpts = withOpts.logs.stdout.map((m) => m.text);

const seen = [];
await stack.commands.run("echo streamed", undefined, {
  onStdout: (m) => seen.push(m.text),
});
out.handlerStdout = seen;

const bg = await stack.commands.run("printf 'l1\\nl2\\n'; sleep 0.3", { background: true });
out.bgId = bg.id;
let status = await stack.commands.getCommandStatus(bg.id);
out.bgRunning = status.running;
for (let i = 0; i < 50 && status.running; i++) {
  await new Promise((r) => setTimeout(r, 100));
  status = await stack.commands.getCommandStatus(bg.id);
}
out.bgStatus = { running: status.running, exitCode: status.exitCode, hasStarted: !!status.startedAt };
const logs = await stack.commands.getBackgroundCommandLogs(bg.id);
out.bgLogs = { content: logs.content, cursor: logs.cursor };
const again = await stack.commands.getBackgroundCommandLogs(bg.id, logs.cursor);
out.bgLogsAgain = { content: again.content, cursor: again.cursor };

try {
  await stack.commands.getCommandStatus("does-not-exist");
  out.unknownStatus = "no error";
} catch (e) {
  out.unknownStatus = String(e && e.message || e);
}

// Interrupt by the id the SDK got from `init`, while the command runs.
let finished;
const interruptTarget = await new Promise((resolve) => {
  finished = stack.commands.run("sleep 30", undefined, { onInit: (init) => resolve(init.id) });
});
await new Promise((r) => setTimeout(r, 200));
await stack.commands.interrupt(interruptTarget);
const interrupted = await finished;
out.interrupted = { exitCode: interrupted.exitCode, evalue: interrupted.error?.value ?? null };

console.log(JSON.stringify(out));
process.exit(0);
