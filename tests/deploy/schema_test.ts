/** The schema check finds the mistakes kubectl would refuse, on the real DaemonSet. */

import assert from "node:assert/strict";
import { findObject, readManifests } from "./manifests.ts";
import { objectSchemaProblems, schemaProblems } from "./schema.ts";

function daemonSet() {
  return structuredClone(findObject(readManifests("daemonset.yaml"), "DaemonSet").object);
}

Deno.test("the real DaemonSet passes; a misspelt or misplaced field does not", () => {
  assert.deepEqual(objectSchemaProblems(daemonSet()), []);

  const typo = daemonSet();
  typo.spec.template.spec.containers[0].imagePulPolicy = "Always";
  assert.deepEqual(objectSchemaProblems(typo), [
    "spec.template.spec.containers[0].imagePulPolicy: unknown field of V1Container",
  ]);

  // readOnlyRootFilesystem belongs to the container's securityContext, not the Pod's.
  const misplaced = daemonSet();
  misplaced.spec.template.spec.securityContext.readOnlyRootFilesystem = true;
  assert.deepEqual(objectSchemaProblems(misplaced), [
    "spec.template.spec.securityContext.readOnlyRootFilesystem: unknown field of V1PodSecurityContext",
  ]);
});

Deno.test("wrong types: an env value must be a string, a port an integer, a list a list", () => {
  const numberValue = daemonSet();
  numberValue.spec.template.spec.containers[0].env[1].value = 5;
  assert.deepEqual(objectSchemaProblems(numberValue), [
    "spec.template.spec.containers[0].env[1].value: expected a string, got number 5",
  ]);

  const fractionalPort = daemonSet();
  fractionalPort.spec.template.spec.containers[0].ports[0].containerPort = 9090.5;
  assert.deepEqual(objectSchemaProblems(fractionalPort), [
    "spec.template.spec.containers[0].ports[0].containerPort: expected an integer, got 9090.5",
  ]);

  const notAList = daemonSet();
  notAList.spec.template.spec.tolerations = { operator: "Exists" };
  assert.deepEqual(objectSchemaProblems(notAList), [
    "spec.template.spec.tolerations: expected a list, got a mapping",
  ]);
});

Deno.test("what the API accepts passes: null, int-or-string, numeric quantities", () => {
  assert.deepEqual(
    schemaProblems({ maxUnavailable: "10%", maxSurge: 0 }, "V1RollingUpdateDaemonSet"),
    [],
  );
  assert.deepEqual(schemaProblems({ maxUnavailable: 1.5 }, "V1RollingUpdateDaemonSet"), [
    "maxUnavailable: expected an integer or a string, got number 1.5",
  ]);
  assert.deepEqual(
    schemaProblems(
      { limits: { cpu: 1, memory: "64Mi" }, requests: null },
      "V1ResourceRequirements",
      "resources",
    ),
    [],
  );
  assert.deepEqual(schemaProblems({ name: "x", labels: { a: 1 } }, "V1ObjectMeta"), [
    "labels.a: expected a string, got number 1",
  ]);
  assert.throws(() => objectSchemaProblems({ apiVersion: "v9", kind: "Thing" }), /no schema/);
});
