import { ipv4Bytes, ipv6Bytes } from './sockaddr.js';

/**
 * Numeric IP address syntax for the -l grammar: the parser of sockaddr.ts, the one that encodes
 * the address for bind(), so what -l accepts is exactly what can be bound. Same rules as node:net,
 * whose isIPv6() costs 5-10 ms of start-up: no leading zeros in IPv4 parts, no zone (the caller
 * splits off %dev).
 */

export function isIPv4Text(text: string): boolean {
  return ipv4Bytes(text) !== undefined;
}

/** Whether `text` is an IPv6 address: 8 groups, or fewer around one '::', optionally ending in IPv4. */
export function isIPv6Text(text: string): boolean {
  try {
    ipv6Bytes(text);
    return true;
  } catch {
    return false;
  }
}
