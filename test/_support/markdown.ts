// Just enough CommonMark for the docs tests: fenced code blocks (with the doc-test marker before
// them), links and images outside code, and GitHub's heading anchors.

/** A fenced code block: its info string, its text, and the `<!-- doc-test: ... -->` marker before it. */
export interface Fence {
  /** 1-based lines of the opening and the closing fence (the last line when it is never closed). */
  line: number;
  end: number;
  info: string;
  body: string;
  /** What follows "doc-test:" in an HTML comment on the last non-blank line before the fence. */
  marker: string | undefined;
}

const OPEN = /^ {0,3}(`{3,}|~{3,})(.*)$/;
const MARKER = /^\s*<!--\s*doc-test:\s*(.*?)\s*-->\s*$/;

/** Every fenced code block of a markdown text, in order. */
export function fences(text: string): Fence[] {
  const lines = text.split('\n');
  const out: Fence[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = OPEN.exec(lines[i]!);
    if (!open) continue;
    const fence = open[1]!;
    const close = new RegExp(`^ {0,3}${fence[0] === '`' ? '`' : '~'}{${fence.length},}\\s*$`);
    let j = i + 1;
    while (j < lines.length && !close.test(lines[j]!)) j++;
    let k = i - 1;
    while (k >= 0 && lines[k]!.trim() === '') k--;
    out.push({
      line: i + 1,
      end: Math.min(j + 1, lines.length),
      info: open[2]!.trim(),
      body: lines.slice(i + 1, j).join('\n'),
      marker: k >= 0 ? MARKER.exec(lines[k]!)?.[1] : undefined,
    });
    i = j;
  }
  return out;
}

/** The text with fenced blocks blanked (line numbers kept) and code spans emptied: what is prose. */
export function prose(text: string): string {
  const lines = text.split('\n');
  for (const f of fences(text)) for (let i = f.line - 1; i < f.end; i++) lines[i] = '';
  // A code span may run over a line break; what it holds is never a link.
  return lines.join('\n').replace(/(`+)(?!`)[\s\S]*?[^`]\1(?!`)/g, (m) => m.replace(/[^\n]/g, ' '));
}

export interface Link {
  line: number;
  target: string;
  image: boolean;
}

/** Inline links and images, reference definitions and HTML href/src, outside code. */
export function links(text: string): Link[] {
  const p = prose(text);
  const lineOf = (index: number) => p.slice(0, index).split('\n').length;
  const out: Link[] = [];
  for (const m of p.matchAll(/(!?)\[(?:[^[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)/g)) {
    out.push({ line: lineOf(m.index), target: m[2]!, image: m[1] === '!' });
  }
  for (const m of p.matchAll(/^ {0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?/gm))
    out.push({ line: lineOf(m.index), target: m[1]!, image: false });
  for (const m of p.matchAll(/<(img|a)\s[^>]*?(?:src|href)="([^"]*)"/g))
    out.push({ line: lineOf(m.index), target: m[2]!, image: m[1] === 'img' });
  return out;
}

/** GitHub's anchors for the headings of a markdown text (github-slugger's rule, duplicates numbered). */
export function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  const raw = text.split('\n');
  const heading = /^ {0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$/;
  prose(text)
    .split('\n')
    .forEach((line, i) => {
      // Found in prose (not in a code block), read from the line as written (code spans kept).
      if (!heading.test(line)) return;
      const slug = heading
        .exec(raw[i]!)![1]!
        .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
        .replace(/[`*]/g, '')
        .toLowerCase()
        .replace(/[^\p{L}\p{N}\s_-]/gu, '')
        .replace(/ /g, '-');
      const n = seen.get(slug) ?? 0;
      seen.set(slug, n + 1);
      out.add(n === 0 ? slug : `${slug}-${n}`);
    });
  return out;
}
