//go:build !noembed

package embedded

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	_ "modernc.org/sqlite" // the driver FerretDB itself uses
)

// IndexIDs makes exact-_id lookups in collection coll of database db use an
// index in the embedded FerretDB's SQLite files under dir.
//
// FerretDB v1 indexes _id as `_ferretdb_sjson->"_id"` but queries it as
// `_ferretdb_sjson->'$._id'`; SQLite matches index expressions as written,
// so every find by _id scans the whole table (about 2 s at 200,000
// documents here). An index on the expression FerretDB queries with fixes
// it (about 1 ms); FerretDB never sees it (its index list is its own
// metadata) and SQLite keeps it up to date on every insert. Creating it on a
// large existing collection takes one pass, once; afterwards it is a no-op.
func IndexIDs(ctx context.Context, dir, db, coll string) error {
	file := filepath.Join(dir, db+".sqlite")
	if _, err := os.Stat(file); err != nil {
		return fmt.Errorf("ferretdb: index _id: %w", err)
	}
	conn, err := sql.Open("sqlite", "file:"+file+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return fmt.Errorf("ferretdb: index _id: %w", err)
	}
	defer conn.Close()
	var table string
	err = conn.QueryRowContext(ctx, `SELECT table_name FROM _ferretdb_collections WHERE name = ?`, coll).Scan(&table)
	if err != nil {
		return fmt.Errorf("ferretdb: index _id: find the table of %s.%s: %w", db, coll, err)
	}
	if strings.ContainsAny(table, `"'`) {
		return fmt.Errorf("ferretdb: index _id: unexpected table name %q", table)
	}
	q := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS "%s__id_lookup" ON "%s" (_ferretdb_sjson->'$._id')`, table, table)
	if _, err := conn.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("ferretdb: index _id: %w", err)
	}
	return nil
}
