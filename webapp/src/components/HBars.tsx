import type { ReactNode } from 'react'

// HBars is a horizontal bar chart drawn with HTML and CSS: every label and
// value is real text (selectable, translated, read by screen readers in
// order, never scaled down on a phone), and only the bar is decoration.

export interface HBar {
  key: string
  label: ReactNode
  value: ReactNode // the text shown at the end of the bar
  fraction: number // bar length, 0-1
  color: string
  attrs?: Record<string, string | number>
}

export function HBars({ bars, label, testId }: { bars: HBar[]; label: string; testId?: string }) {
  return (
    <ul className="hbars" aria-label={label} data-testid={testId}>
      {bars.map((b) => (
        <li key={b.key} {...b.attrs}>
          <span className="hbar-label">{b.label}</span>
          <span className="hbar-track" aria-hidden="true">
            <span
              className="hbar-fill"
              style={{ width: `${Math.max(0, Math.min(1, b.fraction)) * 100}%`, background: b.color }}
            />
          </span>
          <span className="hbar-value">{b.value}</span>
        </li>
      ))}
    </ul>
  )
}
