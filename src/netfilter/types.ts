/**
 * The packet drop, as the kernel's netfilter LOG target describes it.
 * @module
 */

/** The packet inside an ICMP error (`[SRC=… DST=… …]`), as far as the kernel printed it. */
export interface EmbeddedPacket {
  src?: string;
  dst?: string;
  proto?: string;
  spt?: number;
  dpt?: number;
  len?: number;
  ttl?: number;
  id?: number;
}

/** One dropped packet. IPs are canonical text (RFC 5952 for IPv6). */
export interface PacketDrop {
  /** Log time (from the header or the source); ms precision. */
  time: Date;
  /** The configured prefix that matched, trimmed. */
  prefix: string;
  /** Input and output interface names; "" when the kernel printed none. */
  in: string;
  out: string;
  src: string;
  dst: string;
  /** 4 or 6. */
  family: 4 | 6;
  /**
   * TCP, UDP, UDPLITE, SCTP, ICMP, ICMPv6, AH, ESP, … or the protocol number as text; `unknown`
   * when the kernel printed no `PROTO=` (a non-first fragment of an IPv6 packet with more
   * extension headers or of an IPv4 AH packet, an unknown IPv6 extension header, IPv6 ESP
   * without `--log-ip-options`).
   */
  proto: string;
  spt?: number;
  dpt?: number;
  icmpType?: number;
  icmpCode?: number;
  // The rest, as far as the kernel printed them.
  physIn?: string;
  physOut?: string;
  mac?: string;
  macSrc?: string;
  macDst?: string;
  macProto?: string;
  /** IP total length (the first LEN=). */
  len?: number;
  tos?: number;
  prec?: number;
  ttl?: number;
  /** IPv4 identification (the first ID=). */
  id?: number;
  /** IPv6 traffic class, hop limit and flow label. */
  tc?: number;
  hopLimit?: number;
  flowLabel?: number;
  /** IP fragment offset in bytes (IPv4's `FRAG:n` counts 8-byte units; IPv6's counts bytes). */
  fragment?: number;
  /** Bare words: IP flags (CE, DF, MF) and TCP flags (AE CWR ECE URG ACK PSH RST SYN FIN). */
  flags?: string[];
  /** TCP sequence and acknowledgement numbers (with --log-tcp-sequence). */
  seq?: number;
  ack?: number;
  window?: number;
  res?: number;
  urgp?: number;
  /** UDP length (the second LEN=). */
  udpLen?: number;
  /** ICMP echo identifier and sequence (the second ID=, and SEQ=). */
  icmpId?: number;
  icmpSeq?: number;
  mtu?: number;
  gateway?: string;
  /** ICMP's PARAMETER= (decimal) or ICMPv6's POINTER= (printed in hex). */
  parameter?: number;
  spi?: number;
  uid?: number;
  gid?: number;
  mark?: number;
  /** IP options and TCP options, hex, when logged. */
  ipOptions?: string;
  tcpOptions?: string;
  /** The packet embedded in an ICMP error. */
  embedded?: EmbeddedPacket;
  /**
   * N for the drops of an rsyslog `message repeated N times` line, which are handled as one (N
   * identical packets): it tells them apart from the line they repeat. Absent for other lines.
   */
  repeated?: number;
}

/**
 * Why a matching line could not become a drop. A bounded set: these are metric label values.
 * `unrecognised_header`: a configured prefix and `IN=` are in the line, but in front of them is
 * no header we know (a log format this version cannot read); lines of other programs (a known
 * header whose tag is not the kernel's) are ignored, not counted.
 */
export type ParseErrorReason =
  | "invalid_utf8"
  | "control_characters"
  | "line_too_long"
  | "invalid_time"
  | "missing_src"
  | "missing_dst"
  | "not_ip"
  | "invalid_ip"
  | "invalid_number"
  | "malformed"
  | "unrecognised_header";

/** All {@link ParseErrorReason}s, for metrics initialisation and summaries. */
export const PARSE_ERROR_REASONS: readonly ParseErrorReason[] = [
  "invalid_utf8",
  "control_characters",
  "line_too_long",
  "invalid_time",
  "missing_src",
  "missing_dst",
  "not_ip",
  "invalid_ip",
  "invalid_number",
  "malformed",
  "unrecognised_header",
];

/**
 * The outcome of parsing one record. A drop's `count`, when present, says the line stands for
 * that many drops (rsyslog's `message repeated N times: [ … ]`, the N repeats of the line before).
 */
export type ParseResult =
  | { kind: "drop"; drop: PacketDrop; count?: number }
  | { kind: "ignored" }
  | { kind: "error"; reason: ParseErrorReason; detail: string };
