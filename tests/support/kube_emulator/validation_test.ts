import assert from "node:assert/strict";
import { decodeEvent } from "./codec.ts";
import { invalidStatus } from "./status.ts";
import {
  isDNS1123Label,
  isDNS1123Subdomain,
  isPathSegmentName,
  isQualifiedName,
  validateEvent,
  validateObjectMeta,
} from "./validation.ts";

function event(fields: Record<string, unknown>) {
  return decodeEvent({ metadata: { name: "e", namespace: "shop" }, ...fields }).obj;
}

Deno.test("name rules: DNS label and subdomain, qualified names, path segments", () => {
  assert.deepEqual(isDNS1123Label("my-ns"), []);
  assert.deepEqual(isDNS1123Label("a.b"), ["must not contain dots"]);
  assert.match(isDNS1123Label("Bad")[0], /^a lowercase RFC 1123 label must consist of/);
  assert.deepEqual(isDNS1123Label("x".repeat(64))[0], "must be no more than 63 characters");
  assert.deepEqual(isDNS1123Subdomain("web-0.abc"), []);
  assert.equal(isDNS1123Subdomain("x".repeat(254))[0], "must be no more than 253 characters");
  assert.deepEqual(isQualifiedName("k8s.io/my-controller"), []);
  assert.match(isQualifiedName("my-contr@ller")[0], /^name part must consist of alphanumeric/);
  assert.deepEqual(isPathSegmentName("Web_0.ABC", false), []);
  assert.deepEqual(isPathSegmentName("a/b%c", false), [
    "may not contain '/'",
    "may not contain '%'",
  ]);
  assert.deepEqual(isPathSegmentName("..", false), ["may not be '..'"]);
});

Deno.test("core/v1 Event: legacy rules only (no eventTime) — namespace must match the object", () => {
  assert.deepEqual(
    validateEvent(event({ involvedObject: { kind: "Pod", namespace: "shop" } }), "v1"),
    [],
  );
  const errors = validateEvent(
    event({ involvedObject: { kind: "Pod", namespace: "other" } }),
    "v1",
  );
  assert.deepEqual(errors.map(String), [
    'involvedObject.namespace: Invalid value: "other": does not match event.namespace',
  ]);
  // A cluster-scoped object's events live in "default" (or "").
  const node =
    decodeEvent({ metadata: { name: "n", namespace: "default" }, involvedObject: { kind: "Node" } })
      .obj;
  assert.deepEqual(validateEvent(node, "v1"), []);
  const misplaced = event({ involvedObject: { kind: "Node" } });
  assert.equal(validateEvent(misplaced, "v1").length, 1);
  // Without eventTime there is no length limit on reason or message.
  assert.deepEqual(
    validateEvent(
      event({
        involvedObject: { namespace: "shop" },
        reason: "r".repeat(500),
        message: "m".repeat(5000),
      }),
      "v1",
    ),
    [],
  );
});

Deno.test("core/v1 Event with eventTime: reporting fields required, limits, qualified controller", () => {
  const base = {
    involvedObject: { kind: "Pod", namespace: "shop" },
    eventTime: "2024-05-01T10:00:00.000000Z",
  };
  assert.deepEqual(validateEvent(event(base), "v1").map(String), [
    "reportingComponent: Required value",
    'reportingComponent: Invalid value: "": name part must be non-empty',
    "reportingComponent: Invalid value: \"\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
    "reportingInstance: Required value",
    "action: Required value",
    "reason: Required value",
  ]);
  const full = {
    ...base,
    reportingComponent: "kube-iptables-tailer",
    reportingInstance: "node-a",
    action: "Drop",
    reason: "PacketDrop",
  };
  assert.deepEqual(validateEvent(event(full), "v1"), []);
  const long = validateEvent(
    event({
      ...full,
      reason: "r".repeat(129),
      action: "a".repeat(129),
      reportingInstance: "i".repeat(129),
      message: "m".repeat(1025),
    }),
    "v1",
  ).map(String);
  assert.deepEqual(long, [
    'reportingInstance: Invalid value: "": can have at most 128 characters',
    'action: Invalid value: "": can have at most 128 characters',
    'reason: Invalid value: "": can have at most 128 characters',
    'message: Invalid value: "": can have at most 1024 characters',
  ]);
  // Limits count bytes, as Go's len() does.
  assert.equal(validateEvent(event({ ...full, message: "é".repeat(513) }), "v1").length, 1);
});

Deno.test("events.k8s.io/v1 rules add name format, type and unset legacy fields", () => {
  const e = event({
    involvedObject: { kind: "Pod", namespace: "shop" },
    eventTime: "2024-05-01T10:00:00.000000Z",
    reportingComponent: "c",
    reportingInstance: "i",
    action: "a",
    reason: "r",
    count: 2,
    source: { component: "x" },
  });
  e.metadata.name = "Bad_Name";
  const fields = validateEvent(e, "events.k8s.io/v1").map((f) => f.field);
  assert.deepEqual(fields, ["metadata.name", "type", "count", "source"]);
});

Deno.test("ObjectMeta: name or generateName, namespace, labels and annotations", () => {
  assert.deepEqual(
    validateObjectMeta({ namespace: "shop" }, true, isPathSegmentName).map(String),
    ["metadata.name: Required value: name or generateName is required"],
  );
  assert.deepEqual(
    validateObjectMeta(
      { name: "a", labels: { "bad key": "v", ok: "-bad-" } },
      true,
      isPathSegmentName,
    ).map((e) => e.field),
    ["metadata.namespace", "metadata.labels", "metadata.labels"],
  );
  assert.deepEqual(
    validateObjectMeta(
      { name: "a", namespace: "x", annotations: { big: "x".repeat(256 * 1024) } },
      true,
      isPathSegmentName,
    )
      .map(String),
    ["metadata.annotations: Too long: must have at most 262144 bytes"],
  );
});

Deno.test("Invalid Status: message aggregates unique errors, one cause each", () => {
  const errors = validateEvent(event({ involvedObject: { namespace: "other" } }), "v1");
  const status = invalidStatus({ kind: "Event" }, "e", [...errors, ...errors]);
  assert.equal(status.code, 422);
  assert.equal(status.reason, "Invalid");
  assert.equal(
    status.message,
    'Event "e" is invalid: involvedObject.namespace: Invalid value: "other": does not match event.namespace',
  );
  assert.equal(status.details?.causes?.length, 2);
  assert.deepEqual(status.details?.causes?.[0], {
    reason: "FieldValueInvalid",
    message: 'Invalid value: "other": does not match event.namespace',
    field: "involvedObject.namespace",
  });
});
