/**
 * `Status` objects and field errors shaped like kube-apiserver's (k8s.io/apimachinery
 * `api/errors` and `util/validation/field`), so clients see the same codes, reasons and messages.
 *
 * @example
 * ```ts
 * throw new ApiError(notFound({ resource: "pods" }, "web-0"));
 * ```
 * @module
 */

/** One cause of a failure (`details.causes[]`). */
export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

/** `details` of a Status. */
export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

/** A `Status` object (kind Status, apiVersion v1) as the API server answers failures with. */
export interface Status {
  kind: "Status";
  apiVersion: "v1";
  metadata: { continue?: string };
  status: "Success" | "Failure";
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

/** A group and resource, e.g. `{ resource: "events" }` or `{ group: "events.k8s.io", resource: "events" }`. */
export interface GroupResource {
  group?: string;
  resource: string;
}

/** An error carrying the Status to answer with. Handlers throw it; the server serialises it. */
export class ApiError extends Error {
  constructor(readonly status: Status, readonly headers: Record<string, string> = {}) {
    super(status.message ?? status.reason ?? `HTTP ${status.code}`);
    this.name = "ApiError";
  }
}

/** `pods` or `events.events.k8s.io`, as GroupResource.String() prints it. */
export function qualifiedResource(gr: GroupResource): string {
  return gr.group ? `${gr.resource}.${gr.group}` : gr.resource;
}

/** Builds a failure Status with the fields in the order the real server writes them. */
export function failure(
  code: number,
  reason: string,
  message: string,
  details?: StatusDetails,
): Status {
  const status: Status = {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason,
    details,
    code,
  };
  if (details === undefined) delete status.details;
  return status;
}

/** A failure without a reason, as storage errors surface (e.g. resourceVersion set on create). */
export function unclassified(code: number, message: string): Status {
  const status = failure(code, "", message);
  delete status.reason;
  return status;
}

/** 404 NotFound: `pods "x" not found`. */
export function notFound(gr: GroupResource, name: string): Status {
  return failure(404, "NotFound", `${qualifiedResource(gr)} ${goQuote(name)} not found`, {
    name,
    ...(gr.group ? { group: gr.group } : {}),
    kind: gr.resource,
  });
}

/** 409 AlreadyExists: `events "x" already exists`. */
export function alreadyExists(gr: GroupResource, name: string): Status {
  return failure(409, "AlreadyExists", `${qualifiedResource(gr)} ${goQuote(name)} already exists`, {
    name,
    ...(gr.group ? { group: gr.group } : {}),
    kind: gr.resource,
  });
}

/** 409 Conflict for a stale resourceVersion on update. */
export function conflict(gr: GroupResource, name: string, why: string): Status {
  return failure(
    409,
    "Conflict",
    `Operation cannot be fulfilled on ${qualifiedResource(gr)} ${goQuote(name)}: ${why}`,
    { name, ...(gr.group ? { group: gr.group } : {}), kind: gr.resource },
  );
}

/** The message of an optimistic-concurrency conflict. */
export const OPTIMISTIC_LOCK_MESSAGE =
  "the object has been modified; please apply your changes to the latest version and try again";

/** 403 Forbidden: `events "x" is forbidden: <why>`. */
export function forbidden(gr: GroupResource, name: string, why: string): Status {
  const target = name === ""
    ? `${qualifiedResource(gr)} is forbidden`
    : `${qualifiedResource(gr)} ${goQuote(name)} is forbidden`;
  return failure(403, "Forbidden", `${target}: ${why}`, {
    name,
    ...(gr.group ? { group: gr.group } : {}),
    kind: gr.resource,
  });
}

/** 401 Unauthorized, as the authentication filter answers. */
export function unauthorized(): Status {
  return failure(401, "Unauthorized", "Unauthorized");
}

/** 400 BadRequest. */
export function badRequest(message: string): Status {
  return failure(400, "BadRequest", message);
}

/** 405 MethodNotAllowed. */
export function methodNotAllowed(): Status {
  return failure(
    405,
    "MethodNotAllowed",
    "the server does not allow this method on the requested resource",
  );
}

/** 404 for a path under /api or /apis that names no resource. */
export function resourceNotFound(): Status {
  return failure(404, "NotFound", "the server could not find the requested resource", {});
}

/** 406 NotAcceptable. */
export function notAcceptable(accepted: string[]): Status {
  return failure(
    406,
    "NotAcceptable",
    `only the following media types are accepted: ${accepted.join(", ")}`,
  );
}

/** 415 UnsupportedMediaType for a body in an unknown format. */
export function unsupportedMediaType(accepted: string[]): Status {
  return failure(
    415,
    "UnsupportedMediaType",
    `the body of the request was in an unknown format - accepted media types include: ${
      accepted.join(", ")
    }`,
  );
}

/** 410 Gone with reason Expired (too old resourceVersion or continue token). */
export function expired(message: string): Status {
  return failure(410, "Expired", message);
}

/** 500 InternalError. */
export function internalError(cause: string): Status {
  return failure(500, "InternalError", `Internal error occurred: ${cause}`, {
    causes: [{ message: cause }],
  });
}

/** 503 ServiceUnavailable. */
export function serviceUnavailable(
  message = "the server is currently unable to handle the request",
): Status {
  return failure(503, "ServiceUnavailable", message);
}

/** 504 Timeout for a resourceVersion the store has not reached yet. */
export function tooLargeResourceVersion(wanted: number, current: number): Status {
  return failure(
    504,
    "Timeout",
    `Timeout: Too large resource version: ${wanted}, current: ${current}`,
    {
      causes: [{ reason: "ResourceVersionTooLarge", message: "Too large resource version" }],
      retryAfterSeconds: 1,
    },
  );
}

/** The type of a field error (`details.causes[].reason`). */
export type FieldErrorType =
  | "FieldValueRequired"
  | "FieldValueInvalid"
  | "FieldValueNotSupported"
  | "FieldValueForbidden"
  | "FieldValueTooLong"
  | "FieldValueDuplicate";

const TYPE_TEXT: Record<FieldErrorType, string> = {
  FieldValueRequired: "Required value",
  FieldValueInvalid: "Invalid value",
  FieldValueNotSupported: "Unsupported value",
  FieldValueForbidden: "Forbidden",
  FieldValueTooLong: "Too long",
  FieldValueDuplicate: "Duplicate value",
};

/** A field-level validation error, printed like Go's `field.Error`. */
export class FieldError {
  constructor(
    readonly type: FieldErrorType,
    readonly field: string,
    readonly badValue: unknown,
    readonly detail: string,
  ) {}

  /** The message without the field name (`Invalid value: "x": detail`). */
  body(): string {
    let text = TYPE_TEXT[this.type];
    const valueOmitted = this.type === "FieldValueRequired" ||
      this.type === "FieldValueForbidden" || this.type === "FieldValueTooLong";
    if (!valueOmitted) text += `: ${formatValue(this.badValue)}`;
    if (this.detail !== "") text += `: ${this.detail}`;
    return text;
  }

  /** `field: body`. */
  toString(): string {
    return `${this.field}: ${this.body()}`;
  }
}

/** field.Required */
export function required(field: string, detail = ""): FieldError {
  return new FieldError("FieldValueRequired", field, "", detail);
}
/** field.Invalid */
export function invalid(field: string, value: unknown, detail: string): FieldError {
  return new FieldError("FieldValueInvalid", field, value, detail);
}
/** field.Forbidden */
export function forbiddenField(field: string, detail: string): FieldError {
  return new FieldError("FieldValueForbidden", field, "", detail);
}
/** field.TooLong */
export function tooLong(field: string, maxLength: number): FieldError {
  return new FieldError("FieldValueTooLong", field, "", `must have at most ${maxLength} bytes`);
}
/** field.NotSupported */
export function notSupported(field: string, value: unknown, valid: string[]): FieldError {
  const detail = valid.length > 0 ? `supported values: ${valid.map(goQuote).join(", ")}` : "";
  return new FieldError("FieldValueNotSupported", field, value, detail);
}

/** 422 Invalid: `Event "x" is invalid: [a: ..., b: ...]`, with one cause per field error. */
export function invalidStatus(
  kind: { group?: string; kind: string },
  name: string,
  errors: FieldError[],
): Status {
  const qualifiedKind = kind.group ? `${kind.kind}.${kind.group}` : kind.kind;
  const unique: string[] = [];
  for (const error of errors) {
    const text = error.toString();
    if (!unique.includes(text)) unique.push(text);
  }
  const aggregate = unique.length === 1 ? unique[0] : `[${unique.join(", ")}]`;
  const message = errors.length === 0
    ? `${qualifiedKind} ${goQuote(name)} is invalid`
    : `${qualifiedKind} ${goQuote(name)} is invalid: ${aggregate}`;
  return failure(422, "Invalid", message, {
    name,
    ...(kind.group ? { group: kind.group } : {}),
    kind: kind.kind,
    causes: errors.map((e) => ({ reason: e.type, message: e.body(), field: e.field })),
  });
}

function formatValue(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (typeof value === "string") return goQuote(value);
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return JSON.stringify(value);
}

/** Quotes like Go's `%q` (strconv.Quote) for the characters that matter in messages. */
export function goQuote(text: string): string {
  let out = '"';
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === "\\") out += "\\\\";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\t") out += "\\t";
    else if (ch === "\r") out += "\\r";
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, "0")}`;
    else out += ch;
  }
  return out + '"';
}
