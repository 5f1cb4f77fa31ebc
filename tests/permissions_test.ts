import assert from "node:assert/strict";
import { refusalText } from "../src/permissions.ts";

Deno.test("refusalText: Deno's advice is left out, as `deno run` and as the compiled binary word it", () => {
  const refused = 'Requires read access to "/root/kern.log"';
  for (
    const advice of [
      ", run again with the --allow-read flag",
      // A compiled binary (the production one) says this instead.
      ", specify the required permissions during compilation using `deno compile --allow-read`",
    ]
  ) {
    assert.equal(refusalText(new Error(refused + advice)), refused, advice);
  }
  assert.equal(refusalText(new Error("something else")), "something else");
});
