import assert from "node:assert/strict";
import fc from "fast-check";
import {
  parseFieldSelector,
  parseFieldTerms,
  parseLabelSelector,
  SelectorError,
} from "./selectors.ts";

Deno.test("label selector: equality, inequality, sets, existence and comma-AND", () => {
  const labels = { app: "web", tier: "front", version: "3" };
  const cases: [string, boolean][] = [
    ["", true],
    ["app=web", true],
    ["app==web", true],
    ["app=api", false],
    ["app!=api", true],
    ["missing!=x", true],
    ["app in (api,web)", true],
    ["app in (api)", false],
    ["app notin (api)", true],
    ["missing notin (api)", true],
    ["app notin (web)", false],
    ["tier", true],
    ["missing", false],
    ["!missing", true],
    ["!app", false],
    ["app=web,tier=front", true],
    ["app=web,tier=back", false],
    [" app = web , !canary ", true],
    ["version>2", true],
    ["version<3", false],
    ["app=", false],
  ];
  for (const [selector, expected] of cases) {
    assert.equal(parseLabelSelector(selector)(labels), expected, selector);
  }
  assert.equal(parseLabelSelector("app=")({ app: "" }), true);
  assert.equal(parseLabelSelector("!app")(undefined), true);
});

Deno.test("label selector: malformed input is a SelectorError naming the problem", () => {
  for (
    const bad of [
      "app in web",
      "app in ()",
      "=web",
      "app=web,",
      "app=-bad-",
      "bad key=x",
      "a>b",
      "app=(x)",
    ]
  ) {
    assert.throws(() => parseLabelSelector(bad), SelectorError, bad);
  }
  assert.throws(() => parseLabelSelector("app in (a,b"), /expected: ',' or '\)'/);
});

Deno.test("field selector: =, ==, != and escapes; unknown fields are not supported", () => {
  assert.deepEqual(parseFieldTerms("spec.nodeName=n1,status.phase!=Running,metadata.name==a\\,b"), [
    { field: "spec.nodeName", op: "=", value: "n1" },
    { field: "status.phase", op: "!=", value: "Running" },
    { field: "metadata.name", op: "=", value: "a,b" },
  ]);
  const supported = new Set(["spec.nodeName", "status.phase"]);
  const match = parseFieldSelector("spec.nodeName=n1,status.phase!=Failed", supported);
  const get = (values: Record<string, string>) => (name: string) => values[name] ?? "";
  assert.equal(match(get({ "spec.nodeName": "n1", "status.phase": "Running" })), true);
  assert.equal(match(get({ "spec.nodeName": "n1", "status.phase": "Failed" })), false);
  assert.equal(match(get({ "spec.nodeName": "n2" })), false);
  assert.equal(parseFieldSelector("spec.nodeName=", supported)(get({})), true);
  assert.throws(
    () => parseFieldSelector("spec.host=n1", supported),
    /field label not supported: spec.host/,
  );
  assert.throws(() => parseFieldSelector("nonsense", supported), /can't understand 'nonsense'/);
});

Deno.test("label selector: a=v matches exactly the label sets holding v (property)", () => {
  const word = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?$/);
  fc.assert(fc.property(word, word, fc.dictionary(word, word), (key, value, labels) => {
    const expected = labels[key] === value;
    assert.equal(parseLabelSelector(`${key}=${value}`)(labels), expected);
    assert.equal(parseLabelSelector(`${key}!=${value}`)(labels), !expected);
  }));
});
