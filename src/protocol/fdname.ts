/** FDNAME_MAX in systemd: the longest valid fd name, in bytes. */
export const FDNAME_MAX = 255;

/**
 * Why `name` is not a valid fd name, or undefined when it is (systemd's fdname_is_valid,
 * docs/protocol.md 7): printable ASCII only, no ':' (the LISTEN_FDNAMES separator), at most 255 bytes.
 * The empty string is valid, as in systemd.
 */
export function fdNameProblem(name: string): string | undefined {
  if (name.length > FDNAME_MAX) return `longer than ${FDNAME_MAX} characters`;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === 0x3a) return "contains ':'";
    if (c < 0x20 || c > 0x7e) return 'contains a character that is not printable ASCII';
  }
  return undefined;
}

export function isValidFdName(name: string): boolean {
  return fdNameProblem(name) === undefined;
}
