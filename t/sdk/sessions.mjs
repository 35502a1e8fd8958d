// Bash sessions through the official JS SDK's execd adapters, as an SDK user drives them:
// createSession, runInSession (state between runs, working directory, exit codes,
// timeout), interrupt, deleteSession. Prints what the SDK saw as one JSON object for
// t/integ/sdk_js.py to check.
import { ConnectionConfig, createDefaultAdapterFactory } from "@alibaba-group/opensandbox";

const base = process.env.EXECD_URL;
const workdir = process.env.SESSION_DIR;
const stack = createDefaultAdapterFactory().createExecdStack({
  connectionConfig: new ConnectionConfig({ domain: base }),
  execdBaseUrl: base,
});
const commands = stack.commands;
const out = {};
const view = (e) => ({
  id: e.id ?? null,
  stdout: e.logs.stdout.map((m) => m.text),
  stderr: e.logs.stderr.map((m) => m.text),
  exitCode: e.exitCode ?? null,
  error: e.error ? { name: e.error.name, value: e.error.value } : null,
  complete: !!e.complete,
});

const sid = await commands.createSession({ workingDirectory: workdir });
out.sessionId = sid;
out.first = view(await commands.runInSession(sid, "x=1; export Y=2; greet() { echo \"hi $1\"; }; pwd"));
out.state = view(await commands.runInSession(sid, "echo $x $Y; greet sdk; echo oops 1>&2"));
out.cwd = view(await commands.runInSession(sid, "pwd", { workingDirectory: "/tmp" }));
out.cwdKept = view(await commands.runInSession(sid, "pwd"));
out.failed = view(await commands.runInSession(sid, "echo before; exit 3"));
out.afterExit = view(await commands.runInSession(sid, "echo $x; greet again"));
const seen = [];
await commands.runInSession(sid, "echo streamed", undefined, { onStdout: (m) => seen.push(m.text) });
out.handlerStdout = seen;
const started = Date.now();
out.timedOut = view(await commands.runInSession(sid, "sleep 30", { timeoutSeconds: 1 }));
out.timeoutTookMs = Date.now() - started;
out.afterTimeout = view(await commands.runInSession(sid, "echo $x"));

// A run interrupted by the id the SDK got from `init` (the session id): the session is closed.
let finished;
const interruptTarget = await new Promise((resolve) => {
  finished = commands.runInSession(sid, "sleep 30", undefined, { onInit: (init) => resolve(init.id) });
});
await new Promise((r) => setTimeout(r, 200));
await commands.interrupt(interruptTarget);
out.interrupted = view(await finished);
out.interruptTarget = interruptTarget;
try {
  await commands.runInSession(sid, "true");
  out.afterInterrupt = "no error";
} catch (e) {
  out.afterInterrupt = String((e && e.message) || e);
}

const sid2 = await commands.createSession();
await commands.deleteSession(sid2);
try {
  await commands.deleteSession(sid2);
  out.deleteTwice = "no error";
} catch (e) {
  out.deleteTwice = String((e && e.message) || e);
}

console.log(JSON.stringify(out));
process.exit(0);
