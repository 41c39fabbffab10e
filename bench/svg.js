// A hand-written SVG line chart (no dependency, no browser): requests/s and failed requests over
// time, one line per system, reloads marked. Used by bench/supervise.js for bench/results/reload.svg.

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const num = (x) => (Math.round(x * 10) / 10).toString();

/** A round step so that about `n` grid lines cover 0..max. */
function niceStep(max, n) {
  const raw = max / n;
  const p = 10 ** Math.floor(Math.log10(raw || 1));
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p;
}

const fmt = (v) => (v >= 1000 ? `${num(v / 1000)}k` : num(v));

/**
 * One plot: `series` is [{ name, color, points: [[x, y], ...] }]; returns SVG elements placed at
 * (x0, y0) with size w x h. `marks` are x positions drawn as dashed vertical lines.
 */
function plot({ x0, y0, w, h, title, yLabel, xMax, series, marks = [], minYMax = 1 }) {
  const yMax = Math.max(minYMax, ...series.flatMap((s) => s.points.map((p) => p[1])));
  const step = niceStep(yMax, 4);
  const top = Math.ceil(yMax / step) * step;
  const X = (x) => x0 + (x / xMax) * w;
  const Y = (y) => y0 + h - (y / top) * h;
  const out = [];
  out.push(`<text x="${x0}" y="${y0 - 8}" class="title">${esc(title)}</text>`);
  for (let v = 0; v <= top + 1e-9; v += step) {
    out.push(`<line x1="${x0}" x2="${x0 + w}" y1="${num(Y(v))}" y2="${num(Y(v))}" class="grid"/>`);
    out.push(`<text x="${x0 - 6}" y="${num(Y(v) + 4)}" class="ytick">${fmt(v)}</text>`);
  }
  for (let s = 0; s <= xMax; s++) out.push(`<text x="${num(X(s))}" y="${y0 + h + 16}" class="xtick">${s}</text>`);
  for (const m of marks) out.push(`<line x1="${num(X(m))}" x2="${num(X(m))}" y1="${y0}" y2="${y0 + h}" class="mark"/>`);
  out.push(
    `<text x="${x0 - 44}" y="${y0 + h / 2}" class="ylabel" ` +
      `transform="rotate(-90 ${x0 - 44} ${y0 + h / 2})">${esc(yLabel)}</text>`,
  );
  for (const s of series) {
    const d = s.points.map(([x, y], i) => `${i ? 'L' : 'M'}${num(X(x))} ${num(Y(y))}`).join(' ');
    out.push(`<path d="${d}" stroke="${s.color}" class="line"/>`);
  }
  out.push(`<rect x="${x0}" y="${y0}" width="${w}" height="${h}" class="frame"/>`);
  return out;
}

/**
 * The whole chart: `panels` is [{ title, series: [{ name, color, rps: [[t, v]], failed: [[t, v]] }] }],
 * each drawn as a requests/s plot above a failed-requests plot; `marks` are the reload times.
 */
export function reloadChart({ title, subtitle, panels, xMax, marks, failedLabel }) {
  const W = 960;
  const left = 80;
  const w = W - left - 180;
  const rpsH = 170;
  const failH = 90;
  const panelH = rpsH + failH + 110;
  const H = 70 + panels.length * panelH;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" ` +
      `viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    '<style>.title{font-weight:bold;font-size:13px}.grid{stroke:#ddd}.frame{fill:none;stroke:#888}' +
      '.mark{stroke:#999;stroke-dasharray:3 3}.line{fill:none;stroke-width:1.6}.ytick{text-anchor:end;fill:#444}' +
      '.xtick{text-anchor:middle;fill:#444}.ylabel{text-anchor:middle;fill:#444}</style>',
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${left}" y="24" font-size="16" font-weight="bold">${esc(title)}</text>`,
    `<text x="${left}" y="44" fill="#444">${esc(subtitle)}</text>`,
  ];
  panels.forEach((p, i) => {
    const y = 80 + i * panelH;
    out.push(
      ...plot({
        x0: left,
        y0: y,
        w,
        h: rpsH,
        title: `${p.title}: requests/s`,
        yLabel: 'requests/s',
        xMax,
        marks,
        series: p.series.map((s) => ({ ...s, points: s.rps })),
      }),
    );
    out.push(
      ...plot({
        x0: left,
        y0: y + rpsH + 40,
        w,
        h: failH,
        title: `${p.title}: ${failedLabel}`,
        yLabel: 'failed',
        xMax,
        marks,
        minYMax: 1,
        series: p.series.map((s) => ({ ...s, points: s.failed })),
      }),
    );
    out.push(
      `<text x="${left + w / 2}" y="${y + rpsH + 40 + failH + 32}" ` +
        `text-anchor="middle" fill="#444">seconds (dashed: a reload asked for)</text>`,
    );
    p.series.forEach((s, k) => {
      const ly = y + 10 + k * 34;
      out.push(
        `<line x1="${left + w + 16}" x2="${left + w + 40}" ` +
          `y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="3"/>`,
      );
      out.push(`<text x="${left + w + 46}" y="${ly + 4}">${esc(s.name)}</text>`);
      if (s.note)
        out.push(`<text x="${left + w + 46}" y="${ly + 16}" fill="#666" font-size="10">${esc(s.note)}</text>`);
    });
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
