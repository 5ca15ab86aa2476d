import type { ReactNode } from 'react'
import { useI18n } from '../i18n-context'

// DataTable is the text alternative of a chart: a real table, behind a
// disclosure so it does not crowd the page, that screen readers and
// keyboard users can open.

export interface DataTableProps {
  caption: string
  head: string[]
  rows: ReactNode[][]
  numeric?: boolean[] // right-align these columns
}

export function DataTable({ caption, head, rows, numeric = [] }: DataTableProps) {
  const { t } = useI18n()
  return (
    <details className="data-table">
      <summary>{t.showData}</summary>
      <div className="table-scroll">
        <table>
          <caption>{caption}</caption>
          <thead>
            <tr>
              {head.map((h, i) => (
                <th key={i} scope="col" className={numeric[i] ? 'num' : undefined}>
                  {h}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map((r, i) => (
              <tr key={i}>
                {r.map((c, j) =>
                  j === 0 ? (
                    <th key={j} scope="row">
                      {c}
                    </th>
                  ) : (
                    <td key={j} className={numeric[j] ? 'num' : undefined}>
                      {c}
                    </td>
                  ),
                )}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </details>
  )
}
