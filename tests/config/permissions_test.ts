/** The one definition of the Deno permissions (deno.json "daemon") stays in step with the code. */
import assert from "node:assert/strict";
import { ENV_VARIABLES } from "../../src/config.ts";

const config = JSON.parse(Deno.readTextFileSync(new URL("../../deno.json", import.meta.url)));
const daemon = config.permissions.daemon;

Deno.test("permissions: the daemon may read exactly the variables it reads", () => {
  assert.deepEqual([...daemon.env].sort(), [...ENV_VARIABLES].sort());
});

Deno.test("permissions: never all, never run or ffi; writes only to the state directory", () => {
  assert.equal(daemon.all, undefined);
  assert.equal(daemon.run, undefined);
  assert.equal(daemon.ffi, undefined);
  assert.deepEqual(daemon.write, ["/var/lib/kube-iptables-tailer"]);
  for (const task of ["start", "compile"]) {
    assert.match(config.tasks[task], /-P=daemon/, `${task} uses the permission set`);
    assert.doesNotMatch(
      config.tasks[task],
      /(^|\s)(-A|--allow-all|--allow-run|--allow-ffi)(\s|=|$)/,
      task,
    );
  }
});
