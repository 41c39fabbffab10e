/**
 * Numeric IP address syntax, checked without node:net: its isIPv6() compiles a large regular
 * expression on first use (5-10 ms), which the launcher's start-up budget cannot spare.
 * Same rules as node:net: no leading zeros in IPv4 parts, no zone (the caller splits off %dev).
 */

const V4_PART = '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])';
const V4 = new RegExp(`^${V4_PART}(\\.${V4_PART}){3}$`);
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

export function isIPv4Text(text: string): boolean {
  return V4.test(text);
}

/** Whether `text` is an IPv6 address: 8 groups, or fewer around one '::', optionally ending in IPv4. */
export function isIPv6Text(text: string): boolean {
  const halves = text.split('::');
  if (halves.length > 2) return false;
  const groups = (half: string) => (half === '' ? [] : half.split(':'));
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  const all = [...head, ...tail];
  let count = all.length;
  // A trailing dotted quad stands for the last two groups; it must end the address.
  const end = halves.length === 2 ? tail : head;
  const last = end[end.length - 1];
  if (last !== undefined && last.includes('.')) {
    if (!isIPv4Text(last)) return false;
    all.pop();
    count += 1;
  }
  if (!all.every((g) => HEX_GROUP.test(g))) return false;
  return halves.length === 2 ? count <= 7 : count === 8;
}
